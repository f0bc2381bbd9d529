#!/usr/bin/env bash
# Redis from Debian's package, for the tests of plans on a taskflow jobboard
# (karbor_volume_glance/testing/jobboards.py starts a server of its own on a
# free loopback port; no system service is used or needed).
set -euo pipefail

if ! command -v redis-server >/dev/null; then
  apt_install redis-server
fi
command -v redis-server >/dev/null || { echo "redis-server could not be installed" >&2; exit 1; }
echo "test services: redis-server installed"
