# Shared helpers for sealvol's shell tests.  Source it first:
#   source "${top_srcdir:-.}/tests/functions.sh"
# Exit 77 means skipped (automake convention).  Every server a test starts
# is stopped by the EXIT trap, pass or fail.

set -e
set -u

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${SEALVOL:=$top_builddir/sealvol}"
: "${SEALVOL_PLUGIN:=$top_builddir/.libs/nbdkit-sealvol-plugin.so}"
# Debian's python modules (libnbd, cryptography, nacl) live only here.
PY=/usr/bin/python3
# The I/O engine the tests serve with (both are tested; uring is the default).
: "${IO:=uring}"
CIPHERS="aes-256-gcm xchacha20-poly1305 aes-256-xts"
AEAD_CIPHERS="aes-256-gcm xchacha20-poly1305"
# libnbd's shell (libnbd-bin), run by $PY: /usr/bin/nbdsh runs whatever
# python3 comes first on PATH, which may lack the nbd module.  In -c code
# the connected handle is h.
nbdsh () { "$PY" -m nbd "$@"; }

_cleanup_cmds=()
cleanup_fn () { _cleanup_cmds+=("$*"); }
_run_cleanups () {
    local status=$? i
    for (( i=${#_cleanup_cmds[@]}-1; i>=0; i-- )); do
        eval "${_cleanup_cmds[$i]}" || true
    done
    exit $status
}
trap _run_cleanups EXIT

requires () {
    if ! "$@" >/dev/null 2>&1; then
        echo "$0: SKIP: missing requirement: $*"
        exit 77
    fi
}

fail () { echo "$0: FAIL: $*" >&2; exit 1; }

# What sealvol-attach and a loop device on it need: root, FUSE, losetup.
requires_fuse_loop () {
    requires test "$(id -u)" = 0
    requires test -c /dev/fuse
    requires losetup --version
    requires fusermount3 -V
}

# A fresh scratch directory (removed at exit) and an empty storage root.
TMP=$(mktemp -d /tmp/sealvol-test.XXXXXX)
cleanup_fn rm -rf "$TMP"
ROOT=$TMP/root

sv () { "$SEALVOL" --root "$ROOT" "$@"; }

# expect_fail STATUS "message substring" cmd...: the command must exit with
# STATUS and print exactly one line on stderr containing the substring.
expect_fail () {
    local want=$1 msg=$2 status=0 lines
    shift 2
    "$@" >"$TMP/out" 2>"$TMP/err" || status=$?
    [ "$status" = "$want" ] || fail "'$*' exited $status, wanted $want: $(cat "$TMP/err")"
    lines=$(wc -l <"$TMP/err")
    [ "$lines" = 1 ] || fail "'$*' printed $lines lines on stderr: $(cat "$TMP/err")"
    grep -qF -- "$msg" "$TMP/err" || fail "'$*': stderr lacks '$msg': $(cat "$TMP/err")"
}

# Start nbdkit serving TENANT on a Unix socket, in the background, with
# extra plugin parameters.  Sets SOCK and NBDKIT_PID; its log is
# $TMP/nbdkit.log.  Stopped at exit.
start_server () {
    local tenant=$1
    shift
    SOCK=$TMP/nbd.sock
    rm -f "$SOCK" "$TMP/nbdkit.pid"
    nbdkit -f -v -U "$SOCK" -P "$TMP/nbdkit.pid" "$SEALVOL_PLUGIN" \
        root="$ROOT" tenant="$tenant" "$@" 2>>"$TMP/nbdkit.log" &
    NBDKIT_PID=$!
    cleanup_fn "end_process $NBDKIT_PID"
    for _ in $(seq 100); do
        [ -S "$SOCK" ] && [ -s "$TMP/nbdkit.pid" ] && return 0
        kill -0 "$NBDKIT_PID" 2>/dev/null || fail "nbdkit did not start: $(tail -3 "$TMP/nbdkit.log")"
        sleep 0.1
    done
    fail "nbdkit did not create $SOCK"
}

# end_process PID: SIGTERM, and SIGKILL after 5 s, then reap it.  For the
# clean-up at exit: nbdkit 1.32 waits on SIGTERM until its clients have
# gone, and a test that failed half way may still have one attached
# (whose own clean-up comes later), which would hang the test for good.
end_process () {
    kill "$1" 2>/dev/null || return 0
    for _ in $(seq 50); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

# Stop the server started by start_server (SIGTERM, or the given signal).
# On SIGTERM nbdkit waits for every client to leave, so the clients
# nbd_write_and_hold holds open leave first; any other signal kills the
# server under them.
stop_server () {
    [ "${1:-TERM}" = TERM ] && release_held
    kill "-${1:-TERM}" "$NBDKIT_PID" 2>/dev/null || true
    wait "$NBDKIT_PID" 2>/dev/null || true
}

uri () { echo "nbd+unix:///$1?socket=$SOCK"; }

# cipher_volumes TENANT/PREFIX SIZE [volume create options...]: one volume
# per cipher, TENANT/PREFIX<cipher> (PREFIX may be empty: "acme/").
cipher_volumes () {
    local c
    for c in $CIPHERS; do
        sv volume create "$1$c" --size "$2" --cipher "$c" "${@:3}" >/dev/null
    done
}

# crash_volumes TENANT SIZE: one unthrottled volume per cipher, named
# after it, for tests/crash-harness.py; VOLS gets their names, comma-separated.
crash_volumes () {
    local c
    VOLS=
    for c in $CIPHERS; do
        sv volume create "$1/$c" --size "$2" --cipher "$c" --service-type unlimited >/dev/null
        VOLS=${VOLS:+$VOLS,}$c
    done
}

# fill TENANT VOL FILE [plugin parameters...]: on a server of its own,
# write FILE's bytes to the start of VOL.
fill () {
    local t=$1 v=$2 file=$3
    shift 3
    start_server "$t" io=$IO "$@"
    nbdcopy "$file" "$(uri "$v")"
    stop_server
}

# served_equals TENANT VOL FILE [plugin parameters...]: a server of its
# own serves VOL with exactly FILE's bytes (and its size).
served_equals () {
    local t=$1 v=$2 want=$3
    shift 3
    start_server "$t" io=$IO "$@"
    nbdcopy "$(uri "$v")" "$TMP/readback"
    stop_server
    cmp -s "$want" "$TMP/readback" || fail "$t/$v: contents differ from $want"
}

# Byte offset of block B's metadata pair in the meta file (docs/format.md).
meta_pair_offset () { echo $(( ($1 / 42) * 4096 + ($1 % 42) * 96 )); }

voldir () { echo "$ROOT/$1/volumes/$2"; }

# flip_byte FILE OFFSET: XOR one byte with 0x01 in place.
flip_byte () {
    $PY - "$1" "$2" <<'PYEOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off); b = f.read(1)
    assert len(b) == 1, "offset past end of file"
    f.seek(off); f.write(bytes([b[0] ^ 1]))
PYEOF
}

# copy_bytes SRC SRC_OFF DST DST_OFF LEN
copy_bytes () {
    dd if="$1" of="$3" bs=1 skip="$2" seek="$4" count="$5" conv=notrunc status=none
}

# Read LEN bytes at OFF of a volume over NBD into FILE; exit status of the
# read (nonzero on EIO, with one line on stderr).
nbd_read_to () {
    nbdsh -u "$1" -c "d = h.pread($3, $2); open('$4', 'wb').write(d)"
}

# Write FILE's bytes at OFF of a volume over NBD.
nbd_write_from () {
    nbdsh -u "$1" -c "h.pwrite(open('$3', 'rb').read(), $2); h.flush(); h.shutdown()"
}

# Write FILE's bytes at OFF and keep the connection (and so the volume)
# open, so that killing the server afterwards is a crash in mid-session.
# Returns once the write was acknowledged.  The client holds on until
# release_held (or stop_server with SIGTERM) ends it, or at exit.
HELD=()
nbd_write_and_hold () {
    rm -f "$TMP/held"
    $PY - "$1" "$2" "$3" "$TMP/held" <<'PYEOF' &
import signal, sys, nbd
uri, off, path, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
h = nbd.NBD(); h.connect_uri(uri)
h.pwrite(open(path, "rb").read(), off)
open(marker, "w").close()
signal.alarm(600)           # an orphan ends by itself
signal.pause()              # SIGTERM (release_held) ends it
PYEOF
    local client=$!
    HELD+=("$client")
    cleanup_fn "kill $client 2>/dev/null"
    for _ in $(seq 100); do
        [ -e "$TMP/held" ] && return 0
        kill -0 $client 2>/dev/null || fail "writer failed"
        sleep 0.1
    done
    fail "write was not acknowledged"
}

# Close the connections nbd_write_and_hold holds (the clients exit).
release_held () {
    local pid
    for pid in "${HELD[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    HELD=()
}

# certs ARGS...: scripts/sealvol-certs, quiet unless it fails.
certs () {
    bash "$top_srcdir/scripts/sealvol-certs" "$@" >/dev/null || fail "sealvol-certs $*"
}

free_port () {
    $PY -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT: until something accepts connections on 127.0.0.1:PORT
# (5 s at most).
wait_port () {
    for _ in $(seq 50); do
        $PY -c "import socket; socket.create_connection(('127.0.0.1',$1))" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# start_api CERTDIR: sealvol api serve for $ROOT on 127.0.0.1 at a free
# port with the certificate directory CERTDIR; sets API_URL
# (https://127.0.0.1:PORT) and API_PID; its log is $TMP/api.log.
# Stopped at exit.
start_api () {
    local port
    port=$(free_port)
    "$SEALVOL" --root "$ROOT" api serve --listen "127.0.0.1:$port" \
        --tls-certificates "$1" 2>"$TMP/api.log" &
    API_PID=$!
    cleanup_fn "end_process $API_PID"
    wait_port "$port" || fail "api serve did not start: $(cat "$TMP/api.log")"
    API_URL=https://127.0.0.1:$port
}

declare -A PORT PID

# start_tcp NAME [nbdkit options...] -- [plugin parameters...]
# Serve the sealvol plugin on 127.0.0.1 at a free port (PORT[NAME],
# PID[NAME]); log in $TMP/NAME.log.  Stopped at exit.
start_tcp () {
    local name=$1 log=$TMP/$1.log pidf=$TMP/$1.pid port pid attempt
    local opts=() params=()
    shift
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    params=("$@")
    for attempt in 1 2 3; do
        port=$(free_port)
        rm -f "$pidf"
        nbdkit -f -v -i 127.0.0.1 -p "$port" -P "$pidf" "${opts[@]}" \
            "$SEALVOL_PLUGIN" root="$ROOT" "${params[@]}" 2>>"$log" &
        pid=$!
        cleanup_fn "end_process $pid"
        for _ in $(seq 100); do
            if [ -s "$pidf" ]; then
                PORT[$name]=$port PID[$name]=$pid
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && fail "nbdkit ($name) wrote no pidfile"
        wait "$pid" 2>/dev/null || true
        grep -q "Address already in use" "$log" ||
            fail "nbdkit ($name) did not start (try $attempt): $(tail -3 "$log")"
    done
    fail "nbdkit ($name): no free port after 3 tries"
}

stop_tcp () {
    kill "${PID[$1]}" 2>/dev/null || true
    wait "${PID[$1]}" 2>/dev/null || true
}

is_mounted () { grep -q "^[^ ]* $1 fuse" /proc/mounts; }

# start_attach FILE URI [more URIs, sealvol-attach options...]: expose
# the export as FILE (created empty) with sealvol-attach in the background
# (URI first: the address it tries first), and return
# once FILE is mounted.  Sets ATTACH_PID; its stderr is FILE.log.
# Detached at exit.
start_attach () {
    local file=$1 uri=$2
    shift 2
    touch "$file"
    "$top_builddir/sealvol-attach" "$uri" "$@" "$file" 2>"$file.log" &
    ATTACH_PID=$!
    cleanup_fn "fusermount3 -u $file 2>/dev/null; kill $ATTACH_PID 2>/dev/null"
    for _ in $(seq 100); do
        is_mounted "$file" && return 0
        kill -0 $ATTACH_PID 2>/dev/null || fail "sealvol-attach exited: $(cat "$file.log")"
        sleep 0.1
    done
    fail "sealvol-attach did not mount $file"
}

# loop_ext4 FILE: a loop device on FILE (LOOP) holding a fresh ext4,
# mounted on $TMP/mnt.  Both undone at exit.  Direct I/O, as the CSI
# node plugin sets it up (node/node-attach.c, loop_attach).
loop_ext4 () {
    LOOP=$(losetup -f --show --direct-io=on "$1")
    cleanup_fn "detach_loop $LOOP $1"
    mkfs.ext4 -q "$LOOP"
    mkdir -p "$TMP/mnt"
    mount "$LOOP" "$TMP/mnt"
    cleanup_fn "umount $TMP/mnt 2>/dev/null"
}

# detach_loop DEV FILE: losetup -d DEV if FILE still backs it.  A test
# that freed its device already must not free it again at exit by name:
# another test running beside it may have been given the same number
# since (seen: a CSI test's fresh xfs then read no superblock).
detach_loop () {
    case $(losetup -nl -O BACK-FILE "$1" 2>/dev/null) in
        "$2"|"$2 (deleted)") losetup -d "$1" ;;
    esac
}

# remount_check SUMS WHEN: unmount $TMP/mnt, mount it read-only again and
# check the md5sum list SUMS there; then unmount and free LOOP.
remount_check () {
    umount "$TMP/mnt"
    mount -o ro "$LOOP" "$TMP/mnt"
    (cd "$TMP/mnt" && md5sum -c --quiet "$1") || fail "files differ $2"
    umount "$TMP/mnt"
    losetup -d "$LOOP"
}

# make_pki USER: in $P ($TMP/pki) a server CA and, signed by it, the
# server's certificate for 127.0.0.1 and localhost ($P/server, checking
# client certificates against acme's CA); client CAs and certificates for
# acme and bravo ($P/acme, $P/bravo, both trusting the server CA); and
# the PSK files server.psk and wrong.psk: USER with two different keys.
make_pki () {
    P=$TMP/pki
    mkdir -p "$P"
    certs ca "$P/server-ca" --cn "sealvol test server CA"
    certs ca "$P/acme-ca" --cn "acme client CA"
    certs ca "$P/bravo-ca" --cn "bravo client CA"
    certs server "$P/server-ca" "$P/server" 127.0.0.1 localhost \
        --client-ca "$P/acme-ca/ca-cert.pem"
    certs client "$P/acme-ca" "$P/acme" acme-client --server-ca "$P/server-ca/ca-cert.pem"
    certs client "$P/bravo-ca" "$P/bravo" bravo-client --server-ca "$P/server-ca/ca-cert.pem"
    certs psk "$P/server.psk" "$1"
    certs psk "$P/wrong.psk" "$1"
}

# start_gateway NAME TENANT [plugin parameters...]: another server of
# TENANT's root, as a second storage host would run it, on
# $TMP/NAME.sock (log $TMP/NAME.log); sets GW_PID.  Stopped at exit.
start_gateway () {
    local name=$1 tenant=$2
    shift 2
    nbdkit -f -U "$TMP/$name.sock" "$SEALVOL_PLUGIN" root="$ROOT" \
        tenant="$tenant" "$@" 2>"$TMP/$name.log" &
    GW_PID=$!
    cleanup_fn "end_process $GW_PID"
    for _ in $(seq 100); do [ -S "$TMP/$name.sock" ] && return 0; sleep 0.1; done
    fail "gateway $name did not start: $(tail -3 "$TMP/$name.log")"
}

# start_writer: in the background, rewrite 64 files of 256 KiB in
# $TMP/mnt in turn, each with dd conv=fsync, until $TMP/writer-stop
# exists; each file's latest md5sum line goes to $TMP/sums.d/FILE,
# $TMP/done gets a line per file written, $TMP/writer.log any error.
# Sets WRITER.  Stopped at exit.
start_writer () {
    mkdir -p "$TMP/sums.d"
    touch "$TMP/done"
    ( i=0
      until [ -e "$TMP/writer-stop" ]; do
          f=f$((i++ % 64))
          dd if=/dev/urandom of="$TMP/mnt/$f" bs=64k count=4 conv=fsync status=none \
              || echo "WRITE ERROR $f"
          (cd "$TMP/mnt" && md5sum "$f") >"$TMP/sums.d/$f"
          echo "$f" >>"$TMP/done"
      done ) >"$TMP/writer.log" 2>&1 &
    WRITER=$!
    cleanup_fn "touch $TMP/writer-stop; wait $WRITER 2>/dev/null"
}

# wait_writer_progress SECONDS WHAT: until the writer has finished two
# more files than now: proof that it got through WHAT.
wait_writer_progress () {
    local want=$(( $(wc -l <"$TMP/done") + 2 ))
    for _ in $(seq $(( $1 * 10 ))); do
        [ "$(wc -l <"$TMP/done")" -ge "$want" ] && return 0
        kill -0 "$WRITER" 2>/dev/null || fail "the writer stopped: $(head -3 "$TMP/writer.log")"
        sleep 0.1
    done
    fail "the writer made no progress after $2"
}

# stop_writer: stop it; fail if it saw an error.  $TMP/sums gets the
# checksums of every file written.
stop_writer () {
    touch "$TMP/writer-stop"
    wait "$WRITER"
    [ ! -s "$TMP/writer.log" ] || fail "the writer saw errors: $(head -3 "$TMP/writer.log")"
    cat "$TMP"/sums.d/* >"$TMP/sums"
}

# ---- the RBD store (server/store-rbd.c) ----
# SEALVOL_BACKEND=rbd runs a test written for both stores on a throwaway
# Ceph cluster (../shared/tools/micro-ceph.sh): new_tenant starts it on
# first use, in $TMP/ceph, stopped at exit; its tenants keep their volumes
# in pool rbd.  Unset or "file": the directory store, no Ceph.
: "${SEALVOL_BACKEND:=file}"
RBD_POOL=rbd

# micro-ceph.sh beside the clone (CI), or beside a worktree's parent.
micro_ceph () {
    local d
    for d in "$top_srcdir/../shared/tools" "$top_srcdir/../../shared/tools"; do
        [ -x "$d/micro-ceph.sh" ] && { echo "$d/micro-ceph.sh"; return 0; }
    done
    return 1
}

# start_ceph: once per test; skips the test where Ceph is not installed.
start_ceph () {
    [ -e "$TMP/ceph" ] && return 0
    # A cluster already running (for trying a test again quickly): its
    # pool must hold no sealvol.TENANT namespace the test uses.
    if [ -n "${SEALVOL_TEST_CEPH_CONF:-}" ]; then
        export CEPH_CONF=$SEALVOL_TEST_CEPH_CONF
        mkdir "$TMP/ceph"
        return 0
    fi
    requires micro_ceph
    requires test -x /usr/bin/ceph-mon
    requires test -x /usr/bin/ceph-osd
    requires rbd --version
    local mc
    mc=$(micro_ceph)
    cleanup_fn "$mc stop $TMP/ceph >/dev/null 2>&1"
    eval "$("$mc" start "$TMP/ceph" 2>"$TMP/ceph.log")" ||
        fail "micro-ceph did not start: $(tail -3 "$TMP/ceph.log")"
    export CEPH_CONF
}

# new_tenant NAME [tenant create options...]: on the backend under test.
new_tenant () {
    local t=$1
    shift
    if [ "$SEALVOL_BACKEND" = rbd ]; then
        start_ceph
        sv tenant create "$t" --backend rbd --pool "$RBD_POOL" "$@"
    else
        sv tenant create "$t" "$@"
    fi
}

# rbd_spec TENANT VOL data|meta: the image, as the rbd tool names it.
rbd_spec () { echo "$RBD_POOL/sealvol.$1/$2.$3"; }

# rbd_object TENANT VOL data|meta OFFSET: the RADOS object holding that
# byte of the image, and the byte's offset in it (4 MiB objects).
rbd_object () {
    local prefix
    prefix=$(rbd info "$(rbd_spec "$1" "$2" "$3")" --format json |
             "$PY" -c 'import json,sys; print(json.load(sys.stdin)["block_name_prefix"])')
    printf '%s.%016x %d\n' "$prefix" $(( $4 / 4194304 )) $(( $4 % 4194304 ))
}

# rados_flip TENANT OBJECT OFFSET: flip one byte of a stored object, as
# someone with access to the pool (not to the keys) could.
rados_flip () {
    local f=$TMP/rados-obj
    rados -p "$RBD_POOL" -N "sealvol.$1" get "$2" "$f"
    flip_byte "$f" "$3"
    rados -p "$RBD_POOL" -N "sealvol.$1" put "$2" "$f"
}

# store_flip TENANT VOL data|meta|superblock OFFSET: flip a stored byte of
# the volume, in its file or in the pool.
store_flip () {
    if [ "$SEALVOL_BACKEND" != rbd ]; then
        flip_byte "$(voldir "$1" "$2")/$3" "$4"
    elif [ "$3" = superblock ]; then
        rados_flip "$1" "$2.superblock" "$4"
    else
        # shellcheck disable=SC2046
        rados_flip "$1" $(rbd_object "$1" "$2" "$3" "$4")
    fi
}
