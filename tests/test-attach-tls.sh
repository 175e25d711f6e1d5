#!/bin/bash
# sealvol-attach over TLS, with several connections, FUA, and a size
# refresh on SIGHUP.  Needs root, /dev/fuse and
# loop devices.
#
#  (a) nbds:// with CA verification and a client certificate, against
#      nbdkit --tls=require --tls-verify-peer: sealvol-attach opens 4
#      connections (it says so, and the server's request log shows 4 TLS
#      connections); a write through an O_DSYNC open reaches the server
#      with FUA, a plain one without, fsync is a flush; ext4 on a loop
#      device, four parallel writers, writes arriving on several
#      connections, every md5sum right after a remount;
#  (b) PSK (nbds://alice@...?tls-psk-file=): write and read back through
#      the file, and the data is on the server;
#  (c) a client certificate from another CA, a wrong PSK: exit 1, one
#      line on stderr, nothing mounted;
#  (d) SIGHUP: nbdkit's file plugin serves a file that then grows; after
#      SIGHUP stat shows the new size and the new tail reads back.  Also
#      there: parallel readers really run in parallel (the delay filter
#      holds each read, the request log shows several in flight), and a
#      server without multi-conn and FUA gets one connection and
#      write+flush.  If "sealvol volume resize" exists, a sealvol volume
#      grown while attached shows its new size too (else a SKIP note);
#  (e) SIGTERM detaches cleanly: exit 0 and no mount left.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires_fuse_loop
requires mkfs.ext4 -V
requires certtool --version
requires nbdkit --version
requires nbdkit --filter=log --filter=delay --filter=multi-conn --filter=fua null --version
requires nbdcopy --version
ATTACH=$top_builddir/sealvol-attach

make_pki alice

sv tenant create acme >/dev/null
sv volume create acme/fs --size 256M --service-type unlimited >/dev/null
sv volume create acme/raw --size 16M --service-type unlimited >/dev/null

# Detach with SIGTERM, as a node's service manager would (e).
detach () {
    kill -TERM "$ATTACH_PID"
    wait "$ATTACH_PID" || fail "$1: sealvol-attach exited $? after SIGTERM"
    ! is_mounted "$2" || fail "$1: $2 still mounted after SIGTERM"
}

# wait_for FILE PATTERN: until a line of FILE matches (5 s at most).
wait_for () {
    for _ in $(seq 50); do
        grep -q "$2" "$1" && return 0
        sleep 0.1
    done
    fail "$1 never showed '$2': $(tail -3 "$1")"
}

# The most requests a log filter file shows in flight at once, from line $2.
max_in_flight () {
    tail -n +"$2" "$1" | awk '
        / connection=[0-9]+ \.\.\.(Read|Write|Flush)/ { n--; next }
        / connection=[0-9]+ (Read|Write|Flush) /      { if (++n > m) m = n }
        END { print m + 0 }'
}

# --------------------------------------------- (a) x509, several connections

start_tcp tls --tls=require --tls-certificates="$P/server" --tls-verify-peer \
    --filter=log -- tenant=acme io=$IO logfile="$TMP/tls.req"
REQ=$TMP/tls.req
start_attach "$TMP/disk" \
    "nbds://127.0.0.1:${PORT[tls]}/fs?tls-certificates=$P/acme" --connections 4 --timeout 30
grep -q "4 connections open" "$TMP/disk.log" || fail "not 4 connections: $(cat "$TMP/disk.log")"
[ "$(grep -cE 'Connect export="?fs"? tls=1' "$REQ")" = 4 ] ||
    fail "the server did not see 4 TLS connections: $(grep Connect "$REQ")"
[ "$(stat -c %s "$TMP/disk")" = 268435456 ] || fail "the FUSE file has the wrong size"
echo "ok: nbds:// with a client certificate, 4 TLS connections"

dd if=/dev/urandom of="$TMP/disk" bs=64k count=1 seek=16 conv=notrunc oflag=dsync status=none
dd if=/dev/urandom of="$TMP/disk" bs=64k count=1 seek=32 conv=notrunc status=none
flushes=$(grep -c " Flush id=" "$REQ" || true)
dd if=/dev/urandom of="$TMP/disk" bs=64k count=1 seek=48 conv=notrunc,fsync status=none
grep -q "Write id=[0-9]* offset=0x100000 count=0x10000 fua=1" "$REQ" ||
    fail "an O_DSYNC write went without FUA: $(grep 'offset=0x100000' "$REQ")"
grep -q "Write id=[0-9]* offset=0x200000 count=0x10000 fua=0" "$REQ" ||
    fail "a plain write went with FUA: $(grep 'offset=0x200000' "$REQ")"
[ "$(grep -c " Flush id=" "$REQ")" -gt "$flushes" ] || fail "fsync sent no flush"
echo "ok: O_DSYNC writes carry FUA, plain ones do not, fsync is a flush"

loop_ext4 "$TMP/disk"
from=$(wc -l <"$REQ")
writers=()
for w in 1 2 3 4; do
    ( for i in $(seq 8); do
          dd if=/dev/urandom of="$TMP/mnt/w$w.$i" bs=256k count=1 conv=fsync status=none \
              || echo "WRITE ERROR $w.$i"
      done ) >"$TMP/writer$w.log" 2>&1 &
    writers+=($!)
done
wait "${writers[@]}"
cat "$TMP"/writer*.log >"$TMP/writers.log"
[ ! -s "$TMP/writers.log" ] || fail "writers saw errors: $(head -3 "$TMP/writers.log")"
(cd "$TMP/mnt" && md5sum w*) >"$TMP/sums"
used=$(tail -n +"$from" "$REQ" | sed -n 's/.* connection=\([0-9]*\) Write .*/\1/p' | sort -u | wc -l)
[ "$used" -ge 2 ] || fail "the writes all went over $used connection"
remount_check "$TMP/sums" "after a remount"
detach "x509" "$TMP/disk"
stop_tcp tls
sv volume verify acme/fs >/dev/null || fail "verify acme/fs"
echo "ok: ext4 over the FUSE file, 4 parallel writers over $used connections," \
     "$(wc -l <"$TMP/sums") files verified; SIGTERM detached"

# ----------------------------------------------------------------- (b) PSK

start_tcp psk --tls=require --tls-psk="$P/server.psk" -- tenant=acme io=$IO
u_psk () { echo "nbds://alice@127.0.0.1:${PORT[psk]}/raw?tls-psk-file=$P/$1"; }
head -c 1M /dev/urandom >"$TMP/small.img"
start_attach "$TMP/raw" "$(u_psk server.psk)"
dd if="$TMP/small.img" of="$TMP/raw" bs=64k conv=notrunc,fsync status=none
cmp -s -n 1048576 "$TMP/small.img" "$TMP/raw" || fail "PSK: read back through the file differs"
echo "ok: PSK attach, write and read back"

# ------------------------------------------------- (d) sealvol volume resize

if sv --help | grep -q "volume resize"; then
    sv volume resize acme/raw --size 32M >/dev/null || fail "sealvol volume resize"
    kill -HUP "$ATTACH_PID"
    wait_for "$TMP/raw.log" "export size now 33554432 bytes"
    [ "$(stat -c %s "$TMP/raw")" = 33554432 ] || fail "resize: st_size is $(stat -c %s "$TMP/raw")"
    echo "ok: sealvol volume resize + SIGHUP: the file shows 32M"
else
    echo "$0: SKIP note: no 'sealvol volume resize' in this build; SIGHUP is tested on a plain file below"
fi
detach "PSK" "$TMP/raw"
nbdcopy "$(u_psk server.psk)" "$TMP/raw.out"
cmp -s -n 1048576 "$TMP/small.img" "$TMP/raw.out" || fail "PSK: the data is not on the server"
echo "ok: PSK data on the server after the detach"

# -------------------------------------------------- (c) refused credentials

refused () {
    expect_fail 1 "sealvol-attach:" timeout 30 "$ATTACH" "$2" "$TMP/refused"
    ! is_mounted "$TMP/refused" || fail "$1: mounted anyway"
    echo "ok: refused: $1 ($(cat "$TMP/err"))"
}
touch "$TMP/refused"
refused "wrong PSK" "$(u_psk wrong.psk)"
stop_tcp psk
start_tcp tls2 --tls=require --tls-certificates="$P/server" --tls-verify-peer \
    -- tenant=acme io=$IO
refused "client certificate from another CA" \
    "nbds://127.0.0.1:${PORT[tls2]}/raw?tls-certificates=$P/bravo"
stop_tcp tls2

# ------------------------------------------------ (d) SIGHUP on a plain file

# serve_file NAME FILE "FILTER..." [KEY=VALUE...]: nbdkit's file plugin
# over FILE on $TMP/NAME.sock, its requests logged to $TMP/NAME.req.
serve_file () {
    local name=$1 file=$2 f filters=()
    for f in $3; do filters+=(--filter="$f"); done
    shift 3
    nbdkit -U "$TMP/$name.sock" -P "$TMP/$name.pid" --filter=log "${filters[@]}" \
        file "$file" logfile="$TMP/$name.req" "$@"
    cleanup_fn "kill \$(cat $TMP/$name.pid 2>/dev/null) 2>/dev/null"
}

truncate -s 64M "$TMP/grow.img"
serve_file grow "$TMP/grow.img" delay rdelay=100ms
start_attach "$TMP/grow" "nbd+unix:///?socket=$TMP/grow.sock"
from=$(wc -l <"$TMP/grow.req")
readers=()
for r in 0 1 2 3; do
    dd if="$TMP/grow" of=/dev/null bs=64k skip=$((r * 4)) count=4 status=none &
    readers+=($!)
done
wait "${readers[@]}"
n=$(max_in_flight "$TMP/grow.req" "$from")
[ "$n" -ge 2 ] || fail "parallel readers were served one at a time"
echo "ok: 4 parallel readers, $n requests in flight at once"

truncate -s 96M "$TMP/grow.img"
head -c 64k /dev/urandom >"$TMP/tail.img"
dd if="$TMP/tail.img" of="$TMP/grow.img" bs=64k seek=1535 conv=notrunc status=none
kill -HUP "$ATTACH_PID"
wait_for "$TMP/grow.log" "export size now 100663296 bytes"
[ "$(stat -c %s "$TMP/grow")" = 100663296 ] || fail "SIGHUP: st_size is $(stat -c %s "$TMP/grow")"
dd if="$TMP/grow" of="$TMP/tail.out" bs=64k skip=1535 count=1 status=none
cmp -s "$TMP/tail.img" "$TMP/tail.out" || fail "SIGHUP: the grown tail does not read back"
detach "SIGHUP" "$TMP/grow"
echo "ok: SIGHUP: the file grew from 64M to 96M and its new tail reads back"

truncate -s 8M "$TMP/one.img"
serve_file one "$TMP/one.img" "multi-conn fua" multi-conn-mode=disable
start_attach "$TMP/one" "nbd+unix:///?socket=$TMP/one.sock" --connections 4
grep -q "does not allow multi-conn: using one connection" "$TMP/one.log" ||
    fail "no multi-conn: $(cat "$TMP/one.log")"
dd if=/dev/urandom of="$TMP/one" bs=64k count=1 seek=16 conv=notrunc oflag=dsync status=none
grep -A2 "Write id=[0-9]* offset=0x100000 count=0x10000 fua=0" "$TMP/one.req" | grep -q " Flush id=" ||
    fail "without FUA an O_DSYNC write was not followed by a flush"
detach "no multi-conn" "$TMP/one"
[ "$(grep -c " Connect " "$TMP/one.req")" = 1 ] || fail "several connections without multi-conn"
echo "ok: no multi-conn: one connection; no FUA: write then flush"
echo "$0: all attach-over-TLS checks passed"
