#!/usr/bin/env bash
# The independent path: volumes written by sealvol over NBD are
# decrypted block by block by tests/independent-decrypt.py, which follows
# docs/format.md with PyNaCl and pyca/cryptography only, and must give the
# same plaintext for every cipher.  Covers: a block written once (slot A),
# a block rewritten in a later session (slot B, generation 2), blocks in a
# second metadata page, the last block, a never-written block (zeros), and
# that the independent path refuses what it must refuse (tampered block,
# wrong tenant key, tampered header).
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

requires nbdkit --version
requires "$PY" -c 'import nbd, nacl.bindings, cryptography.hazmat.primitives.ciphers.aead'
requires test -x "$SEALVOL"
requires test -f "$SEALVOL_PLUGIN"

DECRYPT=$top_srcdir/tests/independent-decrypt.py
BS=4096
WRITTEN=192                     # of 256 blocks; the rest are never written
REWRITE="7 43"

# check TENANT VOL BLOCK IMG: the independent decryption of BLOCK equals
# block BLOCK of IMG.
check () {
    rm -f "$TMP/plain"
    "$PY" "$DECRYPT" "$ROOT" "$1" "$2" "$3" "$TMP/plain" 2>"$TMP/derr" ||
        fail "$1/$2 block $3: independent decryption failed: $(cat "$TMP/derr")"
    dd if="$4" of="$TMP/want" bs=$BS skip="$3" count=1 status=none
    cmp -s "$TMP/want" "$TMP/plain" ||
        fail "$1/$2 block $3: independent decryption differs from what was written"
}

# refuses MESSAGE ROOT TENANT VOL BLOCK [KEYFILE]: the independent path
# exits 1 with MESSAGE.
refuses () {
    local msg=$1 status=0
    shift
    "$PY" "$DECRYPT" "$1" "$2" "$3" "$4" "$TMP/plain" ${5+"$5"} 2>"$TMP/derr" ||
        status=$?
    [ $status = 1 ] || fail "independent-decrypt $*: exited $status, wanted 1"
    grep -qF -- "$msg" "$TMP/derr" ||
        fail "independent-decrypt $*: stderr lacks '$msg': $(cat "$TMP/derr")"
}

sv tenant create acme >/dev/null
sv tenant create other >/dev/null
for c in $CIPHERS; do
    sv volume create "acme/$c" --size 1M --cipher "$c" >/dev/null
    # What the volume holds: WRITTEN random blocks, then zeros.
    head -c $(( WRITTEN * BS )) /dev/urandom >"$TMP/$c.written"
    cp "$TMP/$c.written" "$TMP/$c.img"
    truncate -s 1M "$TMP/$c.img"
done

# One session writes everything; later ones rewrite a few blocks, so their
# newest slot is B.
start_server acme io=$IO
for c in $CIPHERS; do nbd_write_from "$(uri "$c")" 0 "$TMP/$c.written"; done
stop_server
start_server acme io=$IO
for c in $CIPHERS; do
    for b in $REWRITE; do
        head -c $BS /dev/urandom >"$TMP/new"
        nbd_write_from "$(uri "$c")" $(( b * BS )) "$TMP/new"
        dd if="$TMP/new" of="$TMP/$c.img" bs=$BS seek="$b" conv=notrunc status=none
    done
    # sealvol itself reads back the image (so the reference is right).
    nbd_read_to "$(uri "$c")" 0 $(( 256 * BS )) "$TMP/all"
    cmp -s "$TMP/all" "$TMP/$c.img" || fail "$c: sealvol reads back wrong data"
done
stop_server

for c in $CIPHERS; do
    for b in 0 1 $REWRITE 42 100 $(( WRITTEN - 1 )) $WRITTEN 255; do
        check acme "$c" "$b" "$TMP/$c.img"
    done
done

# For the AEAD ciphers the rewritten blocks really are described by slot B
# (generation 2, a later session) and the others by slot A (generation 1).
for c in $AEAD_CIPHERS; do
    "$PY" - "$(voldir acme "$c")/meta" $REWRITE <<'PYEOF' || fail "$c: unexpected slots"
import struct, sys
meta = open(sys.argv[1], "rb").read()
rewritten = {int(b) for b in sys.argv[2:]}
for b in [0, 1, 42, 100] + sorted(rewritten):
    off = (b // 42) * 4096 + (b % 42) * 96
    a_gen, a_ses = struct.unpack_from("<II", meta, off)
    b_gen, b_ses = struct.unpack_from("<II", meta, off + 48)
    # Every NBD connection opens a new session: the rewrite's is later.
    ok = (a_gen, a_ses) == (1, 1) and (
        (b_gen == 2 and b_ses > 1) if b in rewritten else (b_gen, b_ses) == (0, 0))
    if not ok:
        sys.exit("block %d: slots (gen, session) A %s B %s" %
                 (b, (a_gen, a_ses), (b_gen, b_ses)))
PYEOF
done

# The independent path refuses what sealvol refuses.
c=xchacha20-poly1305
refuses "cannot unwrap" "$ROOT" acme "$c" 0 "$ROOT/other/tenant.key"
for c in $AEAD_CIPHERS; do
    flip_byte "$(voldir acme "$c")/data" $(( 100 * BS + 17 ))
    refuses "block 100: authentication failed" "$ROOT" acme "$c" 100
    check acme "$c" 99 "$TMP/$c.img"
    # ... and so does sealvol.
    status=0
    sv volume verify "acme/$c" >"$TMP/vout" || status=$?
    [ $status = 1 ] && grep -qxF "acme/$c: block 100: authentication failed" "$TMP/vout" ||
        fail "$c: sealvol verify disagrees: $(cat "$TMP/vout")"
done
sb=$(voldir acme aes-256-xts)/superblock
flip_byte "$sb" 136
refuses "MAC" "$ROOT" acme aes-256-xts 0
flip_byte "$sb" 136
check acme aes-256-xts 0 "$TMP/aes-256-xts.img"

echo "$0: PASS"
exit 0
