# ceph.sh -- sourced by up and down: a one-node Ceph on 127.0.0.1 for Cinder's RBD driver (and
# Glance's, for the test that needs Glance on RBD): one mon, one mgr, one memstore OSD, auth
# none, pools "volumes" (Cinder) and "images" (Glance on RBD). Debian 12's ceph-mon, ceph-osd,
# ceph-mgr, ceph-common (16.2). Data, logs and PID files under $CEPH_DIR, wiped at each start.
#   CEPH_MEMSTORE_BYTES  the OSD's capacity (default 8 GiB; also the capacity Cinder sees).
#                        memstore keeps every object in the OSD's memory: its RSS grows with
#                        the bytes written to RBD, so the tests keep their data small.

ceph_up() {
  local D=$CEPH_DIR C=$CEPH_CONF owned_keyring=0 osd_id pool
  [ -e "$D/made-etc-keyring" ] && owned_keyring=1   # survives the wipe below
  rm -rf "$D"; mkdir -p "$D"/{mon-a,osd-0,mgr-x,log,run}
  local fsid mon="[v2:127.0.0.1:$CEPH_MON_V2,v1:127.0.0.1:$CEPH_MON_V1]"
  fsid=$(cat /proc/sys/kernel/random/uuid)
  # The mon listens on msgr2 AND msgr1: os-brick (Cinder's upload-to-image through the RBD
  # connector) writes "mon_host = IP:PORT" from the monmap's legacy address, and a bare port
  # other than 3300 means msgr1, so that client needs the msgr1 port.
  cat >"$C" <<CONF
[global]
fsid = $fsid
mon host = $mon
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
ms bind ipv4 = true
ms bind ipv6 = false
ms mon client mode = crc secure
keyring = $D/keyring
run dir = $D/run
admin socket = $D/run/\$name.\$pid.asok
log file = $D/log/\$name.log
pid file = $D/run/\$name.pid
mon data = $D/mon-\$id
osd data = $D/osd-\$id
mgr data = $D/mgr-\$id
mon data avail warn = 2
mgr initial modules =
osd objectstore = memstore
memstore device bytes = ${CEPH_MEMSTORE_BYTES:-8589934592}
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
mon allow pool delete = true
rbd default features = 3
CONF
  ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "$mon" "$D/monmap" >/dev/null
  ceph-mon -c "$C" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
  start_daemon "$D/mon.pid" "$D/log/mon-a.out" ceph-mon -c "$C" -i a -f
  ceph -c "$C" --connect-timeout 30 -s >/dev/null
  # ceph-mgr even with no modules: Cinder's RBD driver reads the pool's capacity from
  # "ceph df", which the mgr serves
  start_daemon "$D/mgr.pid" "$D/log/mgr-x.out" ceph-mgr -c "$C" -i x -f
  osd_id=$(ceph -c "$C" osd create)
  ceph-osd -c "$C" -i "$osd_id" --mkfs >"$D/log/osd-mkfs.out" 2>&1
  ceph -c "$C" osd crush add-bucket localhost host >/dev/null 2>&1
  ceph -c "$C" osd crush move localhost root=default >/dev/null 2>&1
  ceph -c "$C" osd crush add "osd.$osd_id" 1.0 host=localhost >/dev/null 2>&1
  start_daemon "$D/osd.pid" "$D/log/osd.out" ceph-osd -c "$C" -i "$osd_id" -f
  _ceph_wait osd bash -c "ceph -c '$C' osd stat 2>/dev/null | grep -q '1 up'"
  _ceph_wait mgr bash -c "ceph -c '$C' mgr stat 2>/dev/null | grep -q '\"available\": true'"
  for pool in volumes images; do
    ceph -c "$C" osd pool create $pool 8 8 >/dev/null 2>&1
    ceph -c "$C" osd pool application enable $pool rbd >/dev/null 2>&1
    rbd -c "$C" pool init $pool
  done
  # os-brick's RBD connector reads /etc/ceph/<cluster>.client.<user>.keyring even with auth
  # none, and fails without it: make one for client.admin if there is none (the one thing
  # written outside the root); ceph_down removes it only if it was made here.
  if [ ! -e /etc/ceph/ceph.client.admin.keyring ]; then
    mkdir -p /etc/ceph
    ceph-authtool --create-keyring /etc/ceph/ceph.client.admin.keyring --gen-key \
      -n client.admin >/dev/null
    owned_keyring=1
  fi
  [ $owned_keyring = 1 ] && touch "$D/made-etc-keyring"
  log "ceph: $(ceph -c "$C" -s 2>/dev/null | grep -E 'health|osd:' | tr -s ' ' | tr '\n' ' ')"
}

_ceph_wait() {  # what command... (up to 60 s)
  local what=$1; shift
  for _ in $(seq 1 300); do "$@" && return 0; sleep 0.2; done
  tail -n 20 "$CEPH_DIR"/log/* >&2
  die "ceph: $what not up after 60 s"
}

ceph_down() {
  local n
  for n in mgr osd mon; do stop_pidfile "ceph-$n" "$CEPH_DIR/$n.pid" 30; done
  if [ -e "$CEPH_DIR/made-etc-keyring" ]; then
    rm -f /etc/ceph/ceph.client.admin.keyring "$CEPH_DIR/made-etc-keyring"
    log "removed /etc/ceph/ceph.client.admin.keyring (made by up)"
  fi
}
