#!/usr/bin/env bash
# RabbitMQ from Debian's package, for the notifications test with a real
# broker (tests/functional/broker.py starts a node of its own on free ports;
# no system service is used or needed).
set -euo pipefail

have_rabbitmq() {
  [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null
}

if ! have_rabbitmq; then
  apt_install rabbitmq-server
fi
have_rabbitmq || { echo "rabbitmq-server could not be installed" >&2; exit 1; }
echo "test services: rabbitmq-server installed"
