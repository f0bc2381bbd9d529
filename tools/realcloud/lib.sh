# lib.sh -- sourced by the scripts of tools/realcloud (not meant for a user's shell): the
# layout under KVG_REALCLOUD_ROOT, ports, and how daemons are started and stopped. Each daemon
# runs in its own session (setsid) with its PID written to a *.pid file, and is stopped by that
# PID (then its children and the rest of its session): never by name, since the machine may run
# other Ceph, RabbitMQ or OpenStack processes (other test runs start brokers on free ports).
REALCLOUD=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$REALCLOUD/env.sh"
ROOT=$KVG_REALCLOUD_ROOT
CEPH_DIR=$ROOT/ceph
OS_DIR=$ROOT/os
VENV=$ROOT/venv
PORTS=$ROOT/ports.env
[ -f "$PORTS" ] && . "$PORTS"

log() { echo "[realcloud $(date +%T)] $*"; }
die() { log "$*" >&2; exit 1; }

port_free() {  # port -> true if nothing listens on it and 127.0.0.1 can bind it
  # (SO_REUSEADDR as the servers bind: a port left in TIME_WAIT is free for them)
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
PY
}

free_port() {  # a port the kernel gives out as free now
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

choose_ports() {  # the usual port of each service when free, else a free one -> ports.env
  local name usual port
  : >"$PORTS.new"
  for name in CEPH_MON_V2:3300 CEPH_MON_V1:6789 KEYSTONE_PORT:5000 GLANCE_PORT:9292 \
              CINDER_PORT:8776 RABBIT_PORT:5672 RABBIT_DIST_PORT:25672 PG_PORT:5432; do
    usual=${name#*:}; name=${name%%:*}
    if port_free "$usual"; then port=$usual; else port=$(free_port); fi
    echo "$name=$port" >>"$PORTS.new"
  done
  mv "$PORTS.new" "$PORTS"
  . "$PORTS"
}

port_open() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_daemon() {  # pidfile logfile command... -- in its own session; the PID is the command's
  local pidfile=$1 logfile=$2; shift 2
  setsid "$@" >"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

descendants() {  # pid -> its children, recursively, and the rest of its session
  ps -eo pid=,ppid=,sid= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1; if ($3 == root && $1 != root) seen[$1] = 1 }
    END { n = split(kids[root], q, " "); i = 1
          while (i <= n) { p = q[i++]; seen[p] = 1; m = split(kids[p], k, " ");
                           for (j = 1; j <= m; j++) q[++n] = k[j] }
          for (p in seen) print p }'
}

alive() {  # pid... -> true if one of them runs (a zombie does not)
  local p s
  for p in "$@"; do
    s=$(ps -o stat= -p "$p" 2>/dev/null) || continue
    case "$s" in Z*) ;; *) return 0 ;; esac
  done
  return 1
}

rss_mib() {  # pid... -> their RSS summed, in MiB
  [ $# -gt 0 ] || { echo 0; return; }
  ps -o rss= -p "$(echo "$@" | tr ' ' ,)" 2>/dev/null | awk '{s += $1} END {printf "%d", s / 1024}'
}

stop_pidfile() {  # label pidfile seconds [stop command...]
  # The stop command (default: TERM to the PID), up to `seconds` for it to end, then KILL; then
  # 5 s for what it had started (children, its session) and KILL what is left.
  local label=$1 f=$2 wait=$3 p kids rss t0=$SECONDS
  shift 3
  [ -f "$f" ] || return 0
  p=$(cat "$f")
  if alive "$p"; then
    kids=$(descendants "$p")
    rss=$(rss_mib "$p" $kids)
    if [ $# -gt 0 ]; then "$@" >/dev/null 2>&1 || kill -TERM "$p" 2>/dev/null
    else kill -TERM "$p" 2>/dev/null; fi
    for _ in $(seq 1 $((wait * 5))); do alive "$p" || break; sleep 0.2; done
    alive "$p" && { kill -KILL "$p" 2>/dev/null; log "$label: KILL after ${wait}s"; }
    for _ in $(seq 1 25); do alive $kids || break; sleep 0.2; done
    for k in $kids; do alive "$k" && kill -KILL "$k" 2>/dev/null; done
    for _ in $(seq 1 25); do alive "$p" $kids || break; sleep 0.2; done
    if alive "$p" $kids; then
      log "$label: pid $p or one of its children ($kids) survived KILL" >&2; return 1
    fi
    log "stopped $label (pid $p, ${rss} MiB RSS with its children, in $((SECONDS - t0))s)"
  fi
  rm -f "$f"
}

pidfiles() { ls "$CEPH_DIR"/*.pid "$OS_DIR"/run/*.pid 2>/dev/null || true; }

alive_pidfiles() {  # the recorded daemons still running, as "name:pid" words
  local f
  for f in $(pidfiles); do
    alive "$(cat "$f")" && echo "$(basename "$f" .pid):$(cat "$f")"
  done
  return 0
}

daemons_rss() {  # MiB: the recorded daemons with their children
  local f p all=""
  for f in $(pidfiles); do
    p=$(cat "$f"); alive "$p" && all="$all $p $(descendants "$p")"
  done
  rss_mib $all
}

wait_http() {  # url seconds; curl -m: a listening but broken gunicorn would hang curl
  local url=$1 deadline=$((SECONDS + ${2:-60}))
  until curl -s -m 5 -o /dev/null "$url"; do
    [ $SECONDS -lt $deadline ] || { log "TIMEOUT waiting for $url"; return 1; }
    sleep 0.3
  done
}
