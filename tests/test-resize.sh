#!/bin/bash
# volume resize: grow only, offline and online, crash-safe.
#  - every cipher: the data written before reads back unchanged, the new
#    blocks read (and map) as zeros and take no space, writes to the last
#    block, across the old end and to the last byte read back, also after
#    a restart; info shows the new size, verify passes, the format's
#    independent reader agrees;
#  - shrinking fails with one line and leaves every file as it was, the
#    same size is a no-op, bad input gets one clear line, the capacity cap
#    counts the growth (the volume-count cap does not);
#  - online: a connection held open keeps its size and keeps working while
#    a new one sees the new size and reads and writes the new end;
#  - a rekey racing a resize never undoes the resize;
#  - crash points after the data file grew and after both files grew: the
#    volume opens (served or not), reads and verifies at the old size, and
#    running the resize again finishes it.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'
requires nbdinfo --version

M=$(( 1 << 20 ))

size_of () {   # size_of TENANT/VOL: the size "volume info --json" shows
    sv volume info "$1" --json |
        $PY -c 'import json, sys; print(json.load(sys.stdin)["size"])'
}
meta_size () { echo $(( ($1 / 4096 + 41) / 42 * 4096 )); }   # of a SIZE
is_aead () { [ "$1" != aes-256-xts ]; }

# files_state TENANT VOL: length and checksum of each of the volume's files.
files_state () {
    local d f
    d=$(voldir "$1" "$2")
    for f in superblock data meta; do
        if [ -e "$d/$f" ]; then
            echo "$f $(stat -c %s "$d/$f") $(md5sum <"$d/$f")"
        fi
    done
}

# check_grown URI OLD_SIZE NEW_SIZE SEED MODEL: over a new connection the
# volume is NEW_SIZE bytes, SEED (OLD_SIZE bytes) is still at 0 and the
# rest reads and maps as zeros; writes to the last block, across the old
# end and to the last byte read back.  MODEL gets what it holds now.
check_grown () {
    $PY - "$@" <<'PYEOF'
import sys, nbd
uri, old_size, new_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seed = open(sys.argv[4], "rb").read()
h = nbd.NBD(); h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(uri)
size = h.get_size()
assert size == new_size, "size %d, wanted %d" % (size, new_size)
assert len(seed) == old_size
assert h.pread(old_size, 0) == seed, "data written before the resize changed"
assert h.pread(size - old_size, old_size) == bytes(size - old_size), \
    "the new blocks do not read as zeros"
ext = []
h.block_status(size - old_size, old_size,
               lambda ctx, off, entries, err: ext.extend(entries) or 0)
assert ext[1] & nbd.STATE_ZERO, "the new blocks do not map as zero: %r" % ext[:4]
model = bytearray(size); model[:old_size] = seed
def write(off, data):
    h.pwrite(data, off); model[off:off + len(data)] = data
write(size - 4096, bytes(range(256)) * 16)      # the last block
write(old_size - 100, b"\xa5" * 300)            # across the old end
write(size - 1, b"\x5a")                        # the last byte
h.flush()
assert h.pread(size, 0) == bytes(model), "writes at the new end do not read back"
open(sys.argv[5], "wb").write(model)
PYEOF
}

sv tenant create acme >/dev/null
head -c $(( 2 * M )) /dev/urandom >"$TMP/seed"

# ---- offline, every cipher ----
cipher_volumes acme/ 2M
start_server acme io=$IO
for c in $CIPHERS; do nbd_write_from "$(uri "$c")" 0 "$TMP/seed"; done
stop_server
for c in $CIPHERS; do
    vd=$(voldir acme "$c")
    data_alloc=$(stat -c %b "$vd/data")
    meta_alloc=$(stat -c %b "$vd/meta" 2>/dev/null || echo 0)
    sv volume resize "acme/$c" --size 5M >"$TMP/out" || fail "$c: resize failed"
    grep -qx "resized volume acme/$c to 5M" "$TMP/out" || fail "$c: resize printed: $(cat "$TMP/out")"
    [ "$(size_of "acme/$c")" = $(( 5 * M )) ] || fail "$c: info does not show the new size"
    [ "$(stat -c %s "$vd/data")" = $(( 5 * M )) ] || fail "$c: data file not grown"
    # Sparse growth: the new blocks and metadata pages are holes, so
    # unwritten (every new pair empty).
    [ "$(stat -c %b "$vd/data")" -le "$data_alloc" ] || fail "$c: growing allocated data blocks"
    if is_aead "$c"; then
        [ "$(stat -c %s "$vd/meta")" = "$(meta_size $(( 5 * M )))" ] || fail "$c: meta file not grown"
        [ "$(stat -c %b "$vd/meta")" -le "$meta_alloc" ] || fail "$c: the new metadata pages were allocated"
    fi
done
grep -q '"event":"volume-resize","tenant":"acme","volume":"aes-256-gcm","size":"5M"' \
    "$ROOT/acme/log/audit.log" || fail "resize not audited"
start_server acme io=$IO
for c in $CIPHERS; do
    check_grown "$(uri "$c")" $(( 2 * M )) $(( 5 * M )) "$TMP/seed" "$TMP/model-$c" ||
        fail "$c: contents after the resize"
done
stop_server
for c in $CIPHERS; do
    served_equals acme "$c" "$TMP/model-$c"
    sv volume verify "acme/$c" >/dev/null || fail "$c: verify after the resize"
done
if $PY -c 'import nacl.bindings, cryptography' 2>/dev/null; then
    last=$(( 5 * M / 4096 - 1 ))
    for c in $CIPHERS; do
        $PY "$top_srcdir/tests/independent-decrypt.py" "$ROOT" acme "$c" $last "$TMP/plain" ||
            fail "$c: the independent reader refuses the last block"
        dd if="$TMP/model-$c" of="$TMP/want" bs=4096 skip=$last count=1 status=none
        cmp -s "$TMP/want" "$TMP/plain" || fail "$c: the independent reader disagrees"
    done
fi
echo "offline resize ok for $CIPHERS"

# ---- shrink, same size, bad input, caps: nothing changes ----
for c in $CIPHERS; do
    before=$(files_state acme "$c")
    expect_fail 1 "volume acme/$c is 5M; cannot shrink it to 4M" sv volume resize "acme/$c" --size 4M
    sv volume resize "acme/$c" --size 5120K >"$TMP/out" || fail "$c: resize to the same size failed"
    grep -qx "volume acme/$c is already 5M" "$TMP/out" || fail "$c: same size printed: $(cat "$TMP/out")"
    [ "$(files_state acme "$c")" = "$before" ] || fail "$c: a refused or no-op resize changed the volume"
done
v=acme/aes-256-gcm
expect_fail 2 "volume resize: --size is required" sv volume resize $v
expect_fail 2 "bad size '12Q'" sv volume resize $v --size 12Q
expect_fail 2 "bad size '5000'" sv volume resize $v --size 5000
expect_fail 2 "bad size '0'" sv volume resize $v --size 0
expect_fail 2 "bad size '17T'" sv volume resize $v --size 17T
expect_fail 2 "volume resize: only --size applies here" sv volume resize $v --size 6M --cipher aes-256-xts
expect_fail 2 "bad volume 'acme'" sv volume resize acme --size 6M
expect_fail 1 "no such volume: acme/nope" sv volume resize acme/nope --size 6M
expect_fail 1 "no such tenant: nobody" sv volume resize nobody/v --size 6M
[ "$(size_of $v)" = $(( 5 * M )) ] || fail "bad input changed the size"
[ ! -e "$(voldir acme nope)" ] || fail "resizing a missing volume created it"

sv tenant create capped >/dev/null
printf '[caps]\ncapacity = 8M\nvolumes = 1\n' >>"$ROOT/capped/tenant.conf"
sv volume create capped/v --size 4M >/dev/null
sv volume resize capped/v --size 8M >/dev/null || fail "resize within the capacity cap refused"
expect_fail 1 "its capacity cap is 8388608" sv volume resize capped/v --size 9M
[ "$(size_of capped/v)" = $(( 8 * M )) ] || fail "a resize over the cap changed the size"
echo "refusals ok"

# ---- online: one connection holds the volume while it grows ----
sv volume create acme/live --size 1M >/dev/null
head -c $M /dev/urandom >"$TMP/live-seed"
start_server acme io=$IO
$PY - "$(uri live)" "$TMP/live-seed" "$TMP/held" "$TMP/go" "$TMP/held-ok" <<'PYEOF' &
import os, sys, time, nbd
uri, seed_path, held, go, ok = sys.argv[1:]
seed = open(seed_path, "rb").read()
h = nbd.NBD(); h.connect_uri(uri)
h.pwrite(seed, 0); h.flush()
open(held, "w").close()
while not os.path.exists(go):
    time.sleep(0.05)
# NBD cannot change a connection's size: this one keeps its old size and
# keeps working on the volume it shares with the new connections.
assert h.get_size() == len(seed), h.get_size()
h.pwrite(b"\x77" * 4096, len(seed) - 4096)
assert h.pread(4096, len(seed) - 4096) == b"\x77" * 4096
h.flush(); h.shutdown()
open(ok, "w").close()
PYEOF
client=$!
cleanup_fn "kill $client 2>/dev/null"
for _ in $(seq 100); do [ -e "$TMP/held" ] && break; sleep 0.1; done
[ -e "$TMP/held" ] || fail "the holding client did not write"
sv volume resize acme/live --size 3M >/dev/null || fail "online resize failed"
[ "$(nbdinfo --size "$(uri live)")" = $(( 3 * M )) ] ||
    fail "a new connection does not see the new size: $(nbdinfo --size "$(uri live)")"
check_grown "$(uri live)" $M $(( 3 * M )) "$TMP/live-seed" "$TMP/live-model" ||
    fail "online: the new connection cannot use the new size"
touch "$TMP/go"
wait $client || fail "the connection held across the resize failed"
[ -e "$TMP/held-ok" ] || fail "the held connection did not finish"
stop_server
head -c 4096 /dev/zero | tr '\0' '\167' |
    dd of="$TMP/live-model" bs=4096 seek=$(( M / 4096 - 1 )) conv=notrunc status=none
served_equals acme live "$TMP/live-model"
sv volume verify acme/live >/dev/null || fail "verify after the online resize"
echo "online resize ok"

# ---- a rekey racing a resize never undoes it ----
sv volume create acme/rk --size 64M >/dev/null
head -c $(( 64 * M )) /dev/urandom >"$TMP/rk-seed"
start_server acme io=$IO
nbdcopy "$TMP/rk-seed" "$(uri rk)"
stop_server
size=$(( 64 * M ))
for delay in 0.05 0.1 0.2; do
    sv volume rekey acme/rk >"$TMP/rekey.out" 2>&1 &
    rekey=$!
    sleep $delay
    rs=0; sv volume resize acme/rk --size $(( size + M )) >/dev/null 2>"$TMP/resize.err" || rs=$?
    st=0; wait $rekey || st=$?
    # A resize that waited for the swap finds the old superblock destroyed
    # and fails; one that succeeded must have stuck.
    [ $rs = 0 ] && size=$(( size + M ))
    [ "$(size_of acme/rk)" = $size ] ||
        fail "rekey and resize: size $(size_of acme/rk), wanted $size ($(cat "$TMP/resize.err"))"
    [ $st = 0 ] || grep -q "the volume was resized meanwhile" "$TMP/rekey.out" ||
        fail "rekey failed: $(cat "$TMP/rekey.out")"
done
cp "$TMP/rk-seed" "$TMP/rk-model"
truncate -s $size "$TMP/rk-model"
served_equals acme rk "$TMP/rk-model"
ls -a "$ROOT/acme/volumes" | grep -q rekey && fail "rekey left files behind"
echo "rekey racing resize ok"

# ---- crash points (need --enable-test-hooks) ----
sv volume create acme/probe --size 1M >/dev/null
st=0; SEALVOL_FAULT_POINT=resize:after-data sv volume resize acme/probe --size 2M >/dev/null 2>&1 || st=$?
if [ $st != 99 ]; then
    echo "SKIP crash points: built without --enable-test-hooks"; exit 0
fi
for point in resize:after-data resize:before-superblock; do
    t=crash-${point#resize:}
    sv tenant create "$t" >/dev/null
    cipher_volumes "$t/" 1M
    # Served, with a connection holding each volume, while the resize dies.
    start_server "$t" io=$IO
    for c in $CIPHERS; do
        nbd_write_and_hold "$(uri "$c")" 0 "$TMP/live-seed"
        st=0; SEALVOL_FAULT_POINT=$point sv volume resize "$t/$c" --size 3M >/dev/null 2>&1 || st=$?
        [ $st = 99 ] || fail "$point: crash point not reached ($st)"
        [ "$(stat -c %s "$(voldir "$t" "$c")/data")" = $(( 3 * M )) ] ||
            fail "$point: $c: the data file did not grow before the crash"
        [ "$(nbdinfo --size "$(uri "$c")")" = $M ] ||
            fail "$point: $c: a new connection sees a size the superblock never got"
    done
    stop_server
    for c in $CIPHERS; do
        [ "$(size_of "$t/$c")" = $M ] || fail "$point: $c: size changed"
        sv volume verify "$t/$c" >/dev/null || fail "$point: $c: verify after the crash"
        served_equals "$t" "$c" "$TMP/live-seed"
    done
    # Run again, to less than the files the crash left: they are cut back,
    # and whatever was left past the old end is gone (a stray byte in a
    # new block's data and in its metadata pair would read as garbage or
    # fail authentication).
    for c in $CIPHERS; do
        vd=$(voldir "$t" "$c")
        flip_byte "$vd/data" $(( 2 * M - 4096 + 7 ))
        if is_aead "$c"; then
            truncate -s "$(meta_size $(( 3 * M )))" "$vd/meta"
            flip_byte "$vd/meta" $(( $(meta_pair_offset $(( 2 * M / 4096 - 1 ))) + 4 ))
        fi
    done
    start_server "$t" io=$IO
    for c in $CIPHERS; do
        sv volume resize "$t/$c" --size 2M >/dev/null || fail "$point: $c: resize after the crash"
        check_grown "$(uri "$c")" $M $(( 2 * M )) "$TMP/live-seed" "$TMP/model-$c" ||
            fail "$point: $c: contents after finishing the resize"
    done
    stop_server
    for c in $CIPHERS; do
        vd=$(voldir "$t" "$c")
        [ "$(stat -c %s "$vd/data")" = $(( 2 * M )) ] || fail "$point: $c: data file not cut back"
        if is_aead "$c"; then
            [ "$(stat -c %s "$vd/meta")" = "$(meta_size $(( 2 * M )))" ] || fail "$point: $c: meta file not cut back"
        fi
        sv volume verify "$t/$c" >/dev/null || fail "$point: $c: verify after finishing"
        served_equals "$t" "$c" "$TMP/model-$c"
    done
    echo "resize killed at $point: old size intact, rerun completes"
done
