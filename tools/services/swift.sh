#!/usr/bin/env bash
# OpenStack Swift from PyPI in a venv of its own, and memcached from Debian,
# for the Swift bank's functional tests and the benchmark
# (karbor_volume_glance/testing/objstores/swift.py starts a one-node Swift of
# its own on free 127.0.0.1 ports; no system service is used or needed).
# Sourced by tools/install-test-services.
set -euo pipefail

# 2.38 is the series tried here on Python 3.11 (2.38.3); the bound keeps a
# newer series out until it has been tried.
swift_requirement="swift>=2.38,<2.39"
swift_venv="$KVG_TEST_SERVICES/swift-venv"
swift_stamp="$swift_venv/.kvg-requirement"

have_swift() {
  [ -x "$swift_venv/bin/swift-proxy-server" ] &&
    [ "$(cat "$swift_stamp" 2>/dev/null)" = "$swift_requirement" ] &&
    "$swift_venv/bin/python" -c "import swift.proxy.server" 2>/dev/null
}

if ! command -v memcached >/dev/null && [ ! -x /usr/bin/memcached ]; then
  apt_install memcached
fi
command -v memcached >/dev/null || [ -x /usr/bin/memcached ] ||
  { echo "memcached could not be installed" >&2; return 1; }

if ! have_swift; then
  if [ ! -x "$swift_venv/bin/python" ]; then
    python3 -m venv "$swift_venv" 2>/dev/null || {
      rm -rf "$swift_venv"; apt_install python3-venv; python3 -m venv "$swift_venv"; }
  fi
  "$swift_venv/bin/python" -m pip install -q --disable-pip-version-check \
    "$swift_requirement"
  echo "$swift_requirement" >"$swift_stamp"
fi
have_swift || { echo "swift could not be installed in $swift_venv" >&2; return 1; }
echo "test services: swift $("$swift_venv/bin/python" -c \
  'import importlib.metadata as m; print(m.version("swift"))') in $swift_venv, memcached installed"
