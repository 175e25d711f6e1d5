#!/bin/bash
# Block-device semantics, for every cipher: a fresh volume reads zeros and
# maps as a hole; trim and zero (aligned and not) read back zeros; random
# unaligned writes match a plain file written the same way; what was
# flushed or written with FUA survives a SIGKILL of the server.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'

sv tenant create acme >/dev/null
for c in $CIPHERS; do
    sv volume create "acme/$c" --size 8M --cipher "$c" >/dev/null
done
start_server acme io=$IO

for c in $CIPHERS; do
    u=$(uri "$c")
    $PY - "$u" "$TMP/model-$c" <<'PYEOF' || fail "$c: semantics"
import sys, random, nbd
uri, model_path = sys.argv[1], sys.argv[2]
size = 8 << 20
h = nbd.NBD(); h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
h.connect_uri(uri)
assert h.get_size() == size

# Fresh volume: zeros, and the whole map is one hole.
assert h.pread(size, 0) == bytes(size), "fresh volume is not zero"
ext = []
h.block_status(size, 0, lambda ctx, off, entries, err: ext.extend(entries) or 0)
assert ext[1] & nbd.STATE_ZERO, "fresh volume does not map as zero: %r" % ext[:4]

model = bytearray(size)
def write(off, data, fua=False):
    h.pwrite(data, off, nbd.CMD_FLAG_FUA if fua else 0)
    model[off:off + len(data)] = data

rng = random.Random(42)
write(0, rng.randbytes(size))
# Unaligned writes: 512 bytes at odd offsets, and odd lengths across blocks.
for _ in range(300):
    length = rng.choice([1, 511, 512, 513, 4095, 4097, 9000])
    off = rng.randrange(0, size - length)
    write(off, rng.randbytes(length))
assert h.pread(size, 0) == bytes(model), "unaligned writes differ from the model"

# Trim and zero, aligned and unaligned, read back zeros.
for op, off, length in [("trim", 65536, 3 * 4096), ("zero", 1 << 20, 256 << 10),
                        ("zero", 12345, 100), ("zero", 4096 * 300 + 7, 4096 * 5),
                        ("trim", 2 << 20, 4096)]:
    if op == "trim":
        h.trim(length, off)
    else:
        h.zero(length, off)
    model[off:off + length] = bytes(length)
    assert h.pread(length, off) == bytes(length), "%s at %d not zero" % (op, off)
assert h.pread(size, 0) == bytes(model), "contents differ after trim/zero"

# A large aligned zero maps as a hole.
ext = []
h.block_status(256 << 10, 1 << 20, lambda ctx, off, entries, err: ext.extend(entries) or 0)
assert ext[1] & nbd.STATE_ZERO, "zeroed range not reported as zero: %r" % ext[:4]

# Last write with FUA, no flush afterwards.
write(size - 4096, rng.randbytes(4096), fua=True)
open(model_path, "wb").write(model)
PYEOF
    echo "$c: semantics ok"
done

# Crash: SIGKILL, restart, everything acknowledged with FUA is there.
stop_server KILL
start_server acme io=$IO
for c in $CIPHERS; do
    nbdcopy "$(uri "$c")" "$TMP/after-$c"
    cmp "$TMP/model-$c" "$TMP/after-$c" || fail "$c: contents lost across SIGKILL"
done
stop_server

# Flush then SIGKILL: data written without FUA but flushed also survives.
start_server acme io=$IO
head -c 8M /dev/urandom > "$TMP/fresh"
nbdcopy "$TMP/fresh" "$(uri aes-256-gcm)"      # nbdcopy flushes at the end
stop_server KILL
start_server acme io=$IO
nbdcopy "$(uri aes-256-gcm)" "$TMP/fresh-after"
cmp "$TMP/fresh" "$TMP/fresh-after" || fail "flushed data lost across SIGKILL"
stop_server
sv volume info acme/aes-256-gcm --json |
    $PY -c 'import json,sys; j=json.load(sys.stdin); assert j["last_unclean_session"] >= 1 and j["state"] == "clean", j' \
    || fail "unclean shutdown not recorded"
for c in $AEAD_CIPHERS; do
    sv volume verify "acme/$c" >/dev/null || fail "$c: verify after crashes"
done
