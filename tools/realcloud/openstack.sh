# openstack.sh -- sourced by up, down and glance: Keystone 30, Glance 33 and Cinder 29 (api,
# scheduler, volume with the RBD driver on ceph.sh's cluster) from PyPI in the server venv,
# RabbitMQ from Debian; all on 127.0.0.1; Cinder's database in a PostgreSQL server of our own,
# Keystone's and Glance's in sqlite files; the WSGI apps under gunicorn.
# Configs, databases, Glance's file store, logs and PID files under $OS_DIR.
V=$VENV/bin
ADMIN_PW=secret
DEMO_PW=secret
KS_URL() { echo "http://127.0.0.1:$KEYSTONE_PORT/v3"; }

os_install() {  # the server venv, once: pip with constraints.txt, then Ceph's bindings
  if [ ! -e "$VENV/.realcloud-installed" ] ||
     ! cmp -s "$REALCLOUD/constraints.txt" "$VENV/.realcloud-installed"; then
    log "server venv $VENV: pip install keystone glance cinder (constraints.txt)"
    # Debian's CPython: the one python3-rados/python3-rbd are built for
    [ -x "$V/python" ] || /usr/bin/python3 -m venv "$VENV"
    "$V/pip" install -q --upgrade pip
    "$V/pip" install -q -c "$REALCLOUD/constraints.txt" "glance==33.0.0" "keystone==30.0.0" \
      "cinder==29.0.0" python-glanceclient python-cinderclient keystoneauth1 gunicorn \
      psycopg2-binary
    cp "$REALCLOUD/constraints.txt" "$VENV/.realcloud-installed"
  fi
  "$REALCLOUD/pybindings" "$V/python" >/dev/null
}

gunicorn_cmd() {  # port module:app
  # --keep-alive 600: gunicorn's default (2 s) closes an idle connection that a client (the
  # tests' long-lived sessions, idle while the CLI runs) may be reusing at that very moment,
  # and the client gets "Remote end closed connection without response"
  echo "$V/gunicorn --chdir $OS_DIR/etc --no-control-socket -b 127.0.0.1:$1 -w 1 --threads 4 --timeout 300 --keep-alive 600 $2"
}

os_daemon() {  # name command... (pid -> run/name.pid, output -> log/name.out)
  local name=$1; shift
  start_daemon "$OS_DIR/run/$name.pid" "$OS_DIR/log/$name.out" "$@"
}

# Keystone's and Glance's databases are sqlite files (one process writes each), in WAL mode
# (readers do not block the writer; set once, kept in the file), waiting up to 60 s for a lock.
# Cinder's is not: its api, scheduler and volume processes write at once, and oslo.db opens a
# deferred transaction ("BEGIN", then reads, then a write) that sqlite cannot upgrade when
# another process wrote meanwhile: "database is locked" at once, whatever the busy timeout (an
# HTTP 500 of a volume create, or a volume in error). Cinder gets PostgreSQL, as production
# Cinder gets a server database.
sqlite_url() { echo "sqlite:///$1?timeout=60"; }
sqlite_wal() { sqlite3 "$1" 'PRAGMA journal_mode=WAL;' >/dev/null; }

# PostgreSQL's data directory: the server runs as user postgres, who cannot reach into the
# root (tox makes .tox 0700), so it lives beside, in a directory named after the root
PG_DIR() { echo "${TMPDIR:-/tmp}/kvg-realcloud-pg-$(echo "$ROOT" | sha1sum | cut -c1-12)"; }
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

pg_start() {  # a PostgreSQL server of our own for Cinder: 127.0.0.1:$PG_PORT, no unix socket
  # Debian's binaries run as the postgres user (the server refuses root); trust on loopback
  # (the test cloud's other services use fixed test passwords too); no fsync: a test database.
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -x "$bin/postgres" ] || die "PostgreSQL missing (up installs Debian's postgresql)"
  rm -rf "$(PG_DIR)"
  mkdir -p "$(PG_DIR)"
  chown postgres:postgres "$(PG_DIR)"
  chmod 700 "$(PG_DIR)"
  as_postgres test -w "$(PG_DIR)" ||
    die "user postgres cannot reach $(PG_DIR): a directory above it is closed to others"
  as_postgres "$bin/initdb" -D "$(PG_DIR)" -U postgres -A trust --no-sync -E UTF8 \
    >"$OS_DIR/log/pg-initdb.out" 2>&1 || { tail -20 "$OS_DIR/log/pg-initdb.out"; die "initdb failed"; }
  os_daemon postgres setpriv --reuid=postgres --regid=postgres --init-groups \
    "$bin/postgres" -D "$(PG_DIR)" -h 127.0.0.1 -p "$PG_PORT" -c unix_socket_directories= \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200
  local deadline=$((SECONDS + 60))
  until as_postgres "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; do
    alive "$(cat "$OS_DIR/run/postgres.pid")" || { tail -20 "$OS_DIR/log/postgres.out"; die "postgres exited"; }
    [ $SECONDS -lt $deadline ] || { tail -20 "$OS_DIR/log/postgres.out"; die "postgres did not start"; }
    sleep 0.3
  done
  as_postgres "$bin/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE cinder LOGIN PASSWORD 'cinder'" -c "CREATE DATABASE cinder OWNER cinder" \
    >/dev/null
}

authtoken() {  # the [keystone_authtoken] section of a service
  cat <<EOF2
[keystone_authtoken]
www_authenticate_uri = $(KS_URL)
auth_url = $(KS_URL)
auth_type = password
username = admin
password = $ADMIN_PW
project_name = admin
user_domain_id = default
project_domain_id = default
EOF2
}

os_configs() {
  local B=$OS_DIR
  mkdir -p "$B"/{bin,etc,log,run,locks,keystone/fernet,keystone/cred,glance/images} \
           "$B"/{glance/staging,glance/tasks,cinder/state,rabbit/home,rabbit/mnesia,rabbit/log}
  # cinder-volume runs "sudo cinder-rootwrap CONF cmd..." (qemu-img, os-brick's privsep-helper).
  # We are root already: this "sudo", first on cinder-volume's PATH, drops the prefix.
  cat >"$B/bin/sudo" <<'SH'
#!/bin/sh
[ "$1" = cinder-rootwrap ] && shift 2
exec "$@"
SH
  chmod +x "$B/bin/sudo"
  cat >"$B/etc/keystone.conf" <<EOF2
[DEFAULT]
log_file = $B/log/keystone.log
[database]
connection = $(sqlite_url "$B/keystone/keystone.sqlite")
[token]
provider = fernet
[fernet_tokens]
key_repository = $B/keystone/fernet
[fernet_receipts]
key_repository = $B/keystone/fernet
[credential]
key_repository = $B/keystone/cred
EOF2
  # Keystone's and Cinder's WSGI modules parse sys.argv with oslo.config: hide gunicorn's
  cat >"$B/etc/ks_wsgi.py" <<EOF2
"""Keystone's WSGI app for gunicorn, with its config directory and without gunicorn's argv."""
import os, sys
sys.argv = sys.argv[:1]
os.environ["OS_KEYSTONE_CONFIG_DIR"] = "$B/etc"
from keystone.wsgi.api import application  # noqa
EOF2
  cat >"$B/etc/cinder_wsgi.py" <<EOF2
"""Cinder's WSGI app for gunicorn, with its config file and without gunicorn's argv."""
import sys
sys.argv = [sys.argv[0], "--config-file", "$B/etc/cinder.conf"]
from cinder.wsgi.api import application  # noqa
EOF2
  glance_config file
  # enable_force_upload stays at its default (False), as in a default deployment
  cat >"$B/etc/cinder.conf" <<EOF2
[DEFAULT]
auth_strategy = keystone
transport_url = rabbit://guest:guest@127.0.0.1:$RABBIT_PORT/
enabled_backends = ceph
glance_api_servers = http://127.0.0.1:$GLANCE_PORT
state_path = $B/cinder/state
api_paste_config = $VENV/etc/cinder/api-paste.ini
# the filters a non-admin may list with, as a packaged Cinder ships them in /etc/cinder: without
# the file Cinder drops every filter of a member's list (name, status, metadata ...)
resource_query_filters_file = $VENV/etc/cinder/resource_filters.json
log_dir = $B/log
my_ip = 127.0.0.1
host = realcloud
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = $CINDER_PORT
[database]
connection = postgresql+psycopg2://cinder:cinder@127.0.0.1:$PG_PORT/cinder
[oslo_concurrency]
lock_path = $B/locks
[ceph]
volume_driver = cinder.volume.drivers.rbd.RBDDriver
volume_backend_name = ceph
rbd_pool = volumes
rbd_ceph_conf = $CEPH_CONF
rbd_user = admin
rbd_flatten_volume_from_snapshot = false
$(authtoken)
EOF2
}

glance_config() {  # file|rbd [KEY=VALUE (into [DEFAULT])...]
  # Glance 33 has no standalone server: its WSGI app runs under gunicorn, with the paste ini
  # the venv ships. Both stores are enabled; the backend chooses the default one. On rbd,
  # show_image_direct_url = True (the usual Ceph layout): Cinder's RBD driver then clones a
  # volume made from an image instead of copying it.
  local B=$OS_DIR backend=$1 default_store=fs extra="" kv
  shift
  [ "$backend" = rbd ] && { default_store=ceph; extra="show_image_direct_url = True"; }
  for kv in "$@"; do extra="$extra"$'\n'"${kv%%=*} = ${kv#*=}"; done
  cp "$VENV/etc/glance/glance-api-paste.ini" "$B/etc/glance-api-paste.ini"
  cat >"$B/etc/glance-api.conf" <<EOF2
[DEFAULT]
log_file = $B/log/glance-api.log
enabled_backends = fs:file, ceph:rbd
$extra
[database]
connection = $(sqlite_url "$B/glance/glance.sqlite")
[glance_store]
default_backend = $default_store
[fs]
filesystem_store_datadir = $B/glance/images
[ceph]
rbd_store_pool = images
rbd_store_user = admin
rbd_store_ceph_conf = $CEPH_CONF
rbd_store_chunk_size = 8
# all-zero chunks are skipped: every byte written lands in the memstore OSD's memory, and a
# restore's temporary image is as large as the volume
rbd_thin_provisioning = True
[os_glance_staging_store]
filesystem_store_datadir = $B/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $B/glance/tasks
[paste_deploy]
# an empty flavor would mean no authentication at all
flavor = keystone
config_file = $B/etc/glance-api-paste.ini
[oslo_concurrency]
lock_path = $B/locks
$(authtoken)
EOF2
  echo "$backend $*" >"$B/etc/glance-backend"
}

keystone_start() {
  local KM="$V/keystone-manage --config-file $OS_DIR/etc/keystone.conf"
  $KM db_sync
  sqlite_wal "$OS_DIR/keystone/keystone.sqlite"
  $KM fernet_setup --keystone-user root --keystone-group root
  $KM credential_setup --keystone-user root --keystone-group root
  $KM bootstrap --bootstrap-password "$ADMIN_PW" --bootstrap-username admin \
    --bootstrap-project-name admin --bootstrap-role-name admin \
    --bootstrap-service-name keystone --bootstrap-region-id RegionOne \
    --bootstrap-public-url "$(KS_URL)" --bootstrap-internal-url "$(KS_URL)" \
    --bootstrap-admin-url "$(KS_URL)"
  os_daemon keystone $(gunicorn_cmd "$KEYSTONE_PORT" ks_wsgi:application)
  wait_http "$(KS_URL)" 60
}

keystone_catalog() {  # image and block-storage endpoints; project and user "demo" (member)
  "$V/python" - "$(KS_URL)" "$ADMIN_PW" "$DEMO_PW" "$GLANCE_PORT" "$CINDER_PORT" <<'PY'
import sys
from keystoneauth1 import session
from keystoneauth1.identity import v3
ks, admin_pw, demo_pw, glance, cinder = sys.argv[1:]
s = session.Session(auth=v3.Password(auth_url=ks, username="admin", password=admin_pw,
    project_name="admin", user_domain_id="default", project_domain_id="default"))
volume = f"http://127.0.0.1:{cinder}/v3/$(project_id)s"
for stype, name, url in [("image", "glance", f"http://127.0.0.1:{glance}"),
                         ("block-storage", "cinder", volume), ("volumev3", "cinderv3", volume)]:
    sid = s.post(ks + "/services", json={"service": {"type": stype, "name": name,
                                                     "enabled": True}}).json()["service"]["id"]
    for iface in ("public", "internal", "admin"):
        s.post(ks + "/endpoints", json={"endpoint": {"service_id": sid, "interface": iface,
                                                     "url": url, "region_id": "RegionOne"}})
project = s.post(ks + "/projects", json={"project": {"name": "demo", "domain_id": "default"}}
                 ).json()["project"]["id"]
user = s.post(ks + "/users", json={"user": {"name": "demo", "password": demo_pw,
               "domain_id": "default", "default_project_id": project}}).json()["user"]["id"]
role = s.get(ks + "/roles", params={"name": "member"}).json()["roles"][0]["id"]
s.put(f"{ks}/projects/{project}/users/{user}/roles/{role}")
PY
}

glance_start() {
  "$V/glance-manage" --config-file "$OS_DIR/etc/glance-api.conf" db_sync \
    >"$OS_DIR/log/glance-dbsync.out" 2>&1
  sqlite_wal "$OS_DIR/glance/glance.sqlite"
  glance_run
}

glance_run() {
  OS_GLANCE_CONFIG_DIR=$OS_DIR/etc os_daemon glance \
    $(gunicorn_cmd "$GLANCE_PORT" glance.wsgi.api:application)
  wait_http "http://127.0.0.1:$GLANCE_PORT/healthcheck" 60
}

glance_restart() {  # file|rbd [KEY=VALUE...]
  glance_config "$@"
  stop_pidfile glance "$OS_DIR/run/glance.pid" 30
  glance_run
  log "glance restarted: $* (store $([ "$1" = rbd ] && echo rbd || echo file))"
}

rabbit_start() {
  # A node of its own: its own name, HOME (Erlang cookie), data and ports (5672 and 25672 when
  # free), started by the broker's own script as root rather than Debian's wrapper (which su's
  # to user rabbitmq in another session). epmd, Erlang's port mapper, is shared by every Erlang
  # node of the machine: if none runs, start our own (recorded, stopped by down); never
  # "epmd -kill", which would kill one serving other nodes.
  local B=$OS_DIR/rabbit server=/usr/lib/rabbitmq/bin/rabbitmq-server
  [ -x "$server" ] || die "rabbitmq-server missing (up installs it)"
  if ! port_open 4369; then
    os_daemon epmd epmd -address 127.0.0.1
    for _ in $(seq 1 50); do port_open 4369 && break; sleep 0.1; done
  fi
  HOME=$B/home RABBITMQ_NODENAME=$(rabbit_node) RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
  RABBITMQ_NODE_PORT=$RABBIT_PORT RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT \
  ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_MNESIA_BASE=$B/mnesia RABBITMQ_LOG_BASE=$B/log \
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    os_daemon rabbitmq "$server"
  local deadline=$((SECONDS + 90))
  until port_open "$RABBIT_PORT"; do
    alive "$(cat "$OS_DIR/run/rabbitmq.pid")" || { tail -20 "$OS_DIR/log/rabbitmq.out"; die "rabbitmq exited"; }
    [ $SECONDS -lt $deadline ] || { tail -20 "$OS_DIR/log/rabbitmq.out"; die "rabbitmq did not start"; }
    sleep 0.5
  done
}

rabbit_node() { echo "kvgrealcloud$RABBIT_PORT@localhost"; }

cinder_start() {
  local CM="$V/cinder-manage --config-file $OS_DIR/etc/cinder.conf"
  $CM db sync >"$OS_DIR/log/cinder-dbsync.out" 2>&1
  os_daemon cinder-scheduler "$V/cinder-scheduler" --config-file "$OS_DIR/etc/cinder.conf"
  PATH=$OS_DIR/bin:$V:$PATH os_daemon cinder-volume "$V/cinder-volume" \
    --config-file "$OS_DIR/etc/cinder.conf"
  os_daemon cinder-api $(gunicorn_cmd "$CINDER_PORT" cinder_wsgi:application)
  wait_http "http://127.0.0.1:$CINDER_PORT/" 60
  # until the volume service has reported in (else the first create: no valid host)
  local deadline=$((SECONDS + 90))
  until $CM service list 2>/dev/null | grep -q 'cinder-volume .*realcloud@ceph .*:-)'; do
    [ $SECONDS -lt $deadline ] || { tail -30 "$OS_DIR/log/cinder-volume.log"; die "cinder-volume not up"; }
    sleep 1
  done
  # "up" in the service list is the volume service's heartbeat in the database; the scheduler
  # places volumes only on pools whose capabilities it has received over RabbitMQ (a fanout
  # at the volume service's start, which a scheduler not yet consuming misses, then every
  # minute). Until the scheduler lists the pool, a create ends in error ("No valid backend").
  "$V/python" - "$(KS_URL)" "$ADMIN_PW" "$CINDER_PORT" <<'PY' || { tail -30 "$OS_DIR/log/cinder-scheduler.log"; die "the scheduler has no pool"; }
import sys, time
from keystoneauth1 import session
from keystoneauth1.identity import v3
ks, admin_pw, cinder = sys.argv[1:]
s = session.Session(auth=v3.Password(auth_url=ks, username="admin", password=admin_pw,
    project_name="admin", user_domain_id="default", project_domain_id="default"))
url = f"http://127.0.0.1:{cinder}/v3/{s.get_project_id()}/scheduler-stats/get_pools"
deadline = time.monotonic() + 150
while not s.get(url).json().get("pools"):
    if time.monotonic() > deadline:
        sys.exit("no pool in the scheduler after 150 s")
    time.sleep(1)
PY
}

os_stop() {
  local n
  for n in cinder-api cinder-volume cinder-scheduler glance keystone; do
    stop_pidfile "$n" "$OS_DIR/run/$n.pid" 30
  done
  # INT: PostgreSQL's fast shutdown (TERM would wait for every client to leave)
  if [ -f "$OS_DIR/run/postgres.pid" ]; then
    stop_pidfile postgres "$OS_DIR/run/postgres.pid" 30 kill -INT "$(cat "$OS_DIR/run/postgres.pid")"
  fi
  # the broker's script shuts the node down cleanly on TERM
  stop_pidfile rabbitmq "$OS_DIR/run/rabbitmq.pid" 60
  stop_pidfile epmd "$OS_DIR/run/epmd.pid" 10    # only if rabbit_start started it
}
