#!/bin/bash
# io=uring and io=sync (and meta-io=write against the default mmap, and
# direct=true against the page cache) give identical volumes for the same
# write sequence
# on the same fresh volume (restored from a copy between the runs):
# identical contents for every cipher, identical backing files for XTS,
# whose encryption is deterministic, and identical slot generations for
# the AEAD ciphers, whose nonces are random.  And io=uring falls back to
# sync with one log line when the kernel refuses io_uring.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'

sv tenant create acme >/dev/null
cipher_volumes acme/ 4M
cp -a "$ROOT/acme/volumes" "$TMP/fresh"

# The same seeded sequence of aligned, unaligned, FUA, trim, zero, flush.
workload () {
    $PY - "$1" <<'PYEOF'
import sys, random, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
size = h.get_size(); rng = random.Random(7)
for i in range(400):
    op = rng.choice(["w", "w", "w", "u", "fua", "trim", "zero", "flush"])
    if op in ("w", "fua"):
        off, n = rng.randrange(0, size // 4096 - 64) * 4096, rng.choice([4096, 65536, 262144])
        h.pwrite(rng.randbytes(n), off, nbd.CMD_FLAG_FUA if op == "fua" else 0)
    elif op == "u":
        n = rng.randrange(1, 9000); off = rng.randrange(0, size - n)
        h.pwrite(rng.randbytes(n), off)
    elif op in ("trim", "zero"):
        n = rng.randrange(1, 200000); off = rng.randrange(0, size - n)
        (h.trim if op == "trim" else h.zero)(n, off)
    else:
        h.flush()
h.flush(); h.shutdown()
PYEOF
}

# Each run: a name, then the plugin parameters it serves with.
for run in "uring io=uring" "sync io=sync" "write io=uring meta-io=write" \
           "direct io=uring direct=true"; do
    io=${run%% *}
    rm -rf "$ROOT/acme/volumes"
    cp -a "$TMP/fresh" "$ROOT/acme/volumes"
    # shellcheck disable=SC2086 # the parameters are words on purpose
    start_server acme ${run#* }
    for c in $CIPHERS; do workload "$(uri "$c")"; done
    if [ "$io" = direct ]; then
        # The data file really is open with O_DIRECT (040000 in fdinfo)
        # while a client is connected.
        $PY - "$NBDKIT_PID" "$ROOT/acme/volumes/aes-256-gcm/data" "$(uri aes-256-gcm)" <<'PYEOF' || fail "data file not opened with O_DIRECT"
import os, sys, nbd
pid, want = sys.argv[1], os.path.realpath(sys.argv[2])
h = nbd.NBD(); h.connect_uri(sys.argv[3])
for fd in os.listdir("/proc/%s/fd" % pid):
    try:
        if os.readlink("/proc/%s/fd/%s" % (pid, fd)) != want:
            continue
    except OSError:
        continue
    flags = int(open("/proc/%s/fdinfo/%s" % (pid, fd)).read().split("flags:")[1].split()[0], 8)
    sys.exit(0 if flags & 0o40000 else 1)
sys.exit(1)
PYEOF
    fi
    for c in $CIPHERS; do nbdcopy "$(uri "$c")" "$TMP/$c-$io.img"; done
    stop_server
    cp -a "$ROOT/acme/volumes" "$TMP/after-$io"
done

for other in sync write direct; do
for c in $CIPHERS; do
    cmp "$TMP/$c-uring.img" "$TMP/$c-$other.img" || fail "$c: contents differ, uring against $other"
done
cmp "$TMP/after-uring/aes-256-xts/data" "$TMP/after-$other/aes-256-xts/data" \
    || fail "XTS backing files differ, uring against $other"
for c in $AEAD_CIPHERS; do
    $PY - "$TMP/after-uring/$c/meta" "$TMP/after-$other/$c/meta" <<'PYEOF' || fail "$c: slot generations differ, uring against $other"
import sys, struct
def gens(path):
    m = open(path, "rb").read()
    return [struct.unpack_from("<I", m, p * 4096 + i * 48)[0] if any(m[p*4096+i*48:p*4096+i*48+48]) else None
            for p in range(len(m) // 4096) for i in range(84)]
a, b = gens(sys.argv[1]), gens(sys.argv[2])
assert a == b, "first difference at slot %d" % next(i for i in range(len(a)) if a[i] != b[i])
PYEOF
    sv volume verify "acme/$c" >/dev/null || fail "$c: verify"
done
done
echo "engines agree"

# Fallback: with io_uring refused, one log line says so and I/O still works.
: > "$TMP/nbdkit.log"
start_server acme io=uring -D sealvol.uring_refused=1
nbdcopy "$(uri aes-256-gcm)" "$TMP/fallback.img"
cmp "$TMP/fallback.img" "$TMP/aes-256-gcm-sync.img" || fail "fallback read differs"
stop_server
[ "$(grep -c 'falling back to io=sync' "$TMP/nbdkit.log")" = 1 ] \
    || fail "fallback not logged exactly once: $(grep -i uring "$TMP/nbdkit.log")"
: > "$TMP/nbdkit.log"
start_server acme io=uring
nbdcopy "$(uri aes-256-gcm)" "$TMP/fallback.img"
stop_server
grep -q 'falling back' "$TMP/nbdkit.log" && fail "fell back although io_uring works"
echo "fallback ok"
