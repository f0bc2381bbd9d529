#!/usr/bin/env bash
# env.sh -- where the real cloud of tools/realcloud lives, and the variables a shell (or a
# test run) needs to talk to it. Everything up makes is under ONE root directory:
#   KVG_REALCLOUD_ROOT  default ${TMPDIR:-/tmp}/kvg-realcloud (tox: .tox/realcloud-root)
#     ceph/         ceph.conf, mon/mgr/osd data, logs, *.pid
#     os/           OpenStack configs, sqlite databases, Glance's file store, logs, run/*.pid
#     venv/         the server venv (kept by down --purge: pip takes about 45 s)
#     ports.env     the ports chosen by up (the usual ones when free, else free ones)
#   and, beside it (user postgres cannot enter the root), Cinder's PostgreSQL data directory:
#     ${TMPDIR:-/tmp}/kvg-realcloud-pg-<hash of the root>   (down --purge removes it)
#     clouds.yaml   clouds realcloud-admin (admin/secret) and realcloud-demo (demo/secret)
#     memory.log    the memory watch: peak RSS of the daemons, lowest MemAvailable
#   . tools/realcloud/env.sh           export the variables into this shell
#   eval "$(tools/realcloud/env.sh)"   the same; run alone it prints the export lines
export KVG_REALCLOUD_ROOT=${KVG_REALCLOUD_ROOT:-${TMPDIR:-/tmp}/kvg-realcloud}
export OS_CLIENT_CONFIG_FILE=$KVG_REALCLOUD_ROOT/clouds.yaml
export OS_CLOUD=${OS_CLOUD:-realcloud-admin}
export CEPH_CONF=$KVG_REALCLOUD_ROOT/ceph/ceph.conf

if [ "${BASH_SOURCE[0]:-}" = "$0" ]; then   # run, not sourced: print the exports
  for v in KVG_REALCLOUD_ROOT OS_CLIENT_CONFIG_FILE OS_CLOUD CEPH_CONF; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
fi
