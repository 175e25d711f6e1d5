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
    cleanup_fn "kill $NBDKIT_PID 2>/dev/null; wait $NBDKIT_PID 2>/dev/null"
    for _ in $(seq 100); do
        [ -S "$SOCK" ] && [ -s "$TMP/nbdkit.pid" ] && return 0
        kill -0 "$NBDKIT_PID" 2>/dev/null || fail "nbdkit did not start: $(tail -3 "$TMP/nbdkit.log")"
        sleep 0.1
    done
    fail "nbdkit did not create $SOCK"
}

# Stop the server started by start_server (SIGTERM, or the given signal).
stop_server () {
    kill "-${1:-TERM}" "$NBDKIT_PID" 2>/dev/null || true
    wait "$NBDKIT_PID" 2>/dev/null || true
}

uri () { echo "nbd+unix:///$1?socket=$SOCK"; }

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
# read (nonzero on EIO).
nbd_read_to () {
    $PY - "$1" "$2" "$3" "$4" <<'PYEOF'
import sys, nbd
uri, off, length, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
h = nbd.NBD(); h.connect_uri(uri)
try:
    data = h.pread(length, off)
except nbd.Error as e:
    print("read failed:", e.string, file=sys.stderr); sys.exit(1)
open(out, "wb").write(data)
PYEOF
}

# Write FILE's bytes at OFF of a volume over NBD.
nbd_write_from () {
    $PY - "$1" "$2" "$3" <<'PYEOF'
import sys, nbd
uri, off, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
h = nbd.NBD(); h.connect_uri(uri)
h.pwrite(open(path, "rb").read(), off); h.flush(); h.shutdown()
PYEOF
}

# Write FILE's bytes at OFF and keep the connection (and so the volume)
# open, so that killing the server afterwards is a crash in mid-session.
# Returns once the write was acknowledged; the client is killed at exit.
nbd_write_and_hold () {
    rm -f "$TMP/held"
    $PY - "$1" "$2" "$3" "$TMP/held" <<'PYEOF' &
import sys, time, nbd
uri, off, path, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
h = nbd.NBD(); h.connect_uri(uri)
h.pwrite(open(path, "rb").read(), off)
open(marker, "w").close()
time.sleep(60)
PYEOF
    local client=$!
    cleanup_fn "kill $client 2>/dev/null"
    for _ in $(seq 100); do
        [ -e "$TMP/held" ] && return 0
        kill -0 $client 2>/dev/null || fail "writer failed"
        sleep 0.1
    done
    fail "write was not acknowledged"
}
