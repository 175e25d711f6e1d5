#!/bin/bash
# meta-io=mmap (the default) loads and stores metadata through a shared
# mapping of the meta file.  An access that faults (here: the meta file
# truncated under the running server, so the mapping points past its end)
# must not crash the server: the guard catches the SIGBUS, one warning
# names the volume, and the metadata is read with pread instead, which
# finds the file cut short: the write fails with EIO, and the other
# volume is not disturbed.  With meta-io=write the same damage never
# reaches a mapping: no warning (its metadata cache still holds the
# cut page, so that write succeeds).  Bad values of the option get a
# one-line error.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'

sv tenant create acme >/dev/null
sv volume create acme/hurt --size 4M --cipher aes-256-gcm >/dev/null
sv volume create acme/fine --size 4M --cipher xchacha20-poly1305 >/dev/null

# writes URI [TRUNCATE]: on one connection, write blocks 0 and 1, cut the
# file TRUNCATE to length 0 (if given), write block 2 and read it back;
# prints "ok" or the error.  The first write of a metadata page is a pwrite
# (it reserves the page's blocks); later ones go through the mapping.  One
# connection, as the volume would be closed and its damage found on
# reopening between two.
writes () {
    $PY - "$@" <<'PYEOF'
import sys, os, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
try:
    h.pwrite(os.urandom(4096), 0)
    h.pwrite(os.urandom(4096), 4096)
    h.flush()
    if len(sys.argv) > 2:
        os.truncate(sys.argv[2], 0)
    data = os.urandom(4096)
    h.pwrite(data, 8192)
    h.flush()
    assert h.pread(4096, 8192) == data, "block 2 reads back wrong"
    print("ok")
except nbd.Error as e:
    print(e.errno if isinstance(e.errno, str) else os.strerror(e.errno or 0))
PYEOF
}

warned () { grep -c "through the metadata mapping faulted" "$TMP/nbdkit.log" || true; }

start_server acme io=$IO
got=$(writes "$(uri hurt)" "$ROOT/acme/volumes/hurt/meta")
[ "$got" = EIO ] || fail "write after the meta file was cut: '$got', wanted EIO"
kill -0 "$NBDKIT_PID" 2>/dev/null || fail "the server died on the faulting load"
[ "$(warned)" = 1 ] || fail "wanted one warning about the faulted load, got $(warned)"
grep "faulted" "$TMP/nbdkit.log" | grep -q "acme/hurt" || fail "the warning does not name the volume"
[ "$(writes "$(uri fine)")" = ok ] || fail "other volume: writes after the fault"
nbdcopy "$(uri fine)" "$TMP/fine.img" || fail "other volume unreadable after the fault"
stop_server
sv volume verify acme/fine >/dev/null || fail "verify of the other volume"
echo "faulting load: caught, warned once, EIO from the cut file"

# meta-io=write: the same damage, no mapping, no warning.
: > "$TMP/nbdkit.log"
sv volume delete acme/hurt >/dev/null
sv volume create acme/hurt --size 4M --cipher aes-256-gcm >/dev/null
start_server acme io=$IO meta-io=write
got=$(writes "$(uri hurt)" "$ROOT/acme/volumes/hurt/meta")
[ "$got" = ok ] || fail "meta-io=write: '$got'"
stop_server
[ "$(warned)" = 0 ] || fail "meta-io=write went through the mapping"
echo "meta-io=write: pwrite path"

expect_fail 1 "meta-io must be 'mmap' or 'write'" \
    nbdkit -f -U "$TMP/x.sock" "$SEALVOL_PLUGIN" root="$ROOT" tenant=acme meta-io=bogus
echo "bad value refused"
