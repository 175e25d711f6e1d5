#!/bin/bash
# Tenant-key rotation while the tenant's server serves (issue #20): fio
# writes and verifies (crc32c, nbd engine) on one volume per cipher while
# the key is rotated again and again, and while rotations are killed at
# every crash point and finished by a rerun.  After each step a fresh
# connection opens other volumes, so the running server must have taken
# up the new key.  Then: no I/O error, no verify failure, the old key's
# bytes are nowhere under the root, and a copy of the tenant taken before
# does not decrypt with the key that remains (checked by sealvol and by
# the independent decrypter).
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires fio --version
requires fio --enghelp=nbd
requires $PY -c 'import nbd'
requires $PY -c 'import nacl, cryptography'

head -c 1M /dev/urandom > "$TMP/data"
sv tenant create acme >/dev/null
cipher_volumes acme/f- 16M
cipher_volumes acme/o- 1M
for c in $CIPHERS; do fill acme "o-$c" "$TMP/data"; done

cp -a "$ROOT" "$TMP/before"                 # the copy an attacker keeps
cp "$ROOT/acme/tenant.key" "$TMP/old.key"

start_server acme io=$IO
jobs=()
for c in $CIPHERS; do jobs+=(--name="f-$c" --uri="$(uri "f-$c")"); done
# fio writes, and verifies each 256 writes back, until it is interrupted
# (SIGINT: it stops and reports every job's error status).
fio --ioengine=nbd --rw=randwrite --bs=4k --iodepth=16 --size=16M \
    --verify=crc32c --verify_backlog=256 --verify_fatal=1 --verify_state_save=0 \
    --time_based --runtime=900 --output="$TMP/fio.log" "${jobs[@]}" &
FIO_PID=$!
cleanup_fn "kill $FIO_PID 2>/dev/null || true"
sleep 1

# Every volume not held open, opened afresh by the running server.
fresh_opens () {
    local c
    for c in $CIPHERS; do
        nbd_read_to "$(uri "o-$c")" 0 1048576 "$TMP/x" \
            || fail "$1: o-$c does not open on the running server"
        cmp -s "$TMP/x" "$TMP/data" || fail "$1: o-$c reads wrong data"
    done
}

rotations=0
for i in 1 2 3; do
    sv tenant rotate-key acme | grep -q "rotated the key of tenant acme" \
        || fail "online rotation $i failed"
    rotations=$((rotations + 1))
    fresh_opens "after rotation $i"
done
echo "rotated 3 times under fio; fresh opens use the new key"

if SEALVOL_FAULT_POINT=none sv --help >/dev/null 2>&1 \
   && ( st=0; SEALVOL_FAULT_POINT=rotate:after-next-key sv tenant rotate-key acme \
            >/dev/null 2>&1 || st=$?; [ $st = 99 ] ); then
    sv tenant rotate-key acme >/dev/null        # finish the probe's rotation
    rotations=$((rotations + 1))
    for point in rotate:after-next-key rotate:after-conf-begin rotate:after-rewrap \
                 rotate:after-key-replaced rotate:after-conf-finish; do
        st=0; SEALVOL_FAULT_POINT=$point sv tenant rotate-key acme >/dev/null 2>&1 || st=$?
        [ $st = 99 ] || fail "$point: crash point not reached ($st)"
        fresh_opens "killed at $point"
        sv tenant rotate-key acme >/dev/null || fail "$point: the rerun failed"
        # after the last step the killed rotation was whole: the rerun is another
        rotations=$((rotations + 1))
        [ "$point" = rotate:after-conf-finish ] && rotations=$((rotations + 1))
        fresh_opens "rerun after $point"
    done
    echo "rotations killed at every step under fio: volumes open throughout"
else
    echo "SKIP crash points: built without --enable-test-hooks"
fi

kill -0 $FIO_PID 2>/dev/null || fail "fio stopped during the rotations: $(cat "$TMP/fio.log")"
kill -INT $FIO_PID
st=0; wait $FIO_PID || st=$?
[ $st = 0 ] || [ $st = 128 ] || fail "fio failed ($st): $(cat "$TMP/fio.log")"
[ "$(grep -c 'err= 0' "$TMP/fio.log")" = 3 ] || fail "fio reported errors: $(cat "$TMP/fio.log")"
[ "$(grep -c ' read: IOPS=' "$TMP/fio.log")" = 3 ] || fail "fio verified nothing: $(cat "$TMP/fio.log")"
grep -qi "verify.*fail\|bad magic\|crc32c.*wanted" "$TMP/fio.log" && fail "fio verify failure"
grep -q "integrity failure" "$TMP/nbdkit.log" && fail "integrity failure while rotating"
want=$((1 + rotations))
grep -q "\"key-version\": $want" "$ROOT/acme/tenant.state" || fail "tenant.state not at key version $want"
grep -q '"event":"tenant-key-loaded"' "$ROOT/acme/log/audit.log" \
    || fail "the server did not record taking up the new keys"
echo "fio: no I/O error, no verify failure across $rotations rotations"

# The volumes fio wrote verify offline after the server stops.
stop_server
for c in $CIPHERS; do
    sv volume info "acme/f-$c" --json | grep -q "\"tenant_key_version\": $want" \
        || fail "f-$c not wrapped under key version $want"
    served_equals acme "o-$c" "$TMP/data"
done
for c in $AEAD_CIPHERS; do
    sv volume verify "acme/f-$c" >/dev/null || fail "f-$c fails verify after the rotations"
done

# The old key is destroyed: its bytes are under the root nowhere, and
# the copy taken before decrypts with it (so the copy is worth keeping)
# but not with the key that remains.
[ ! -e "$ROOT/acme/tenant.key.next" ] || fail "next key left behind"
grep -rqF "$(cat "$TMP/old.key")" "$ROOT" && fail "old key still under the root"
dec=$top_srcdir/tests/independent-decrypt.py
$PY "$dec" "$TMP/before" acme o-aes-256-gcm 0 "$TMP/blk" "$TMP/old.key" \
    || fail "the copy does not decrypt even with the old key"
cmp -s "$TMP/blk" <(head -c 4096 "$TMP/data") || fail "independent decrypt of the copy"
for c in $CIPHERS; do
    $PY "$dec" "$TMP/before" acme "o-$c" 0 "$TMP/blk" "$ROOT/acme/tenant.key" 2>/dev/null \
        && fail "o-$c: the copy decrypts with the current key"
done
cp "$ROOT/acme/tenant.key" "$ROOT/acme/tenant.state" "$TMP/before/acme/"
expect_fail 1 "o-aes-256-gcm: wrapped under tenant key version 1, which is not loaded" \
    "$SEALVOL" --root "$TMP/before" volume info acme/o-aes-256-gcm
echo "old key destroyed: a copy from before the rotations does not open with the current key"

# A server given its key once (kek=-FD) cannot read the new one: it says
# so, and keeps serving what it has open.
start_server acme io=$IO kek=-3 3<"$ROOT/acme/tenant.key"
nbd_read_to "$(uri o-aes-256-gcm)" 0 4096 "$TMP/x"
# Re-encryption is still offline only: a served volume gets one line.
head -c 4096 "$TMP/data" > "$TMP/blk0"
nbd_write_and_hold "$(uri o-aes-256-gcm)" 0 "$TMP/blk0"
expect_fail 1 "volume acme/o-aes-256-gcm is in use (served, or being verified): volume rekey works only offline" \
    sv volume rekey acme/o-aes-256-gcm
release_held
sv tenant rotate-key acme >/dev/null
nbd_read_to "$(uri o-xchacha20-poly1305)" 0 4096 "$TMP/x" 2>/dev/null \
    && fail "a server given its key once opened a re-wrapped volume"
grep -q "was given its key once and cannot read it again" "$TMP/nbdkit.log" \
    || fail "no warning from a server that cannot follow the rotation"
stop_server
echo "kek=-FD server: warns that it cannot follow the rotation"
