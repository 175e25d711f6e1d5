#!/bin/bash
# EIO and ENOSPC injected into data writes, metadata writes
# and flushes, and short data writes (test builds: io-fault.c).  The
# client gets the error; once the fault clears, every block of the failed
# write reads as its old or its new content (never EIO, so no metadata was
# left half-updated), the range can be rewritten, and the volume verifies.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'

export SEALVOL_FAULT_FILE=$TMP/fault
: > "$SEALVOL_FAULT_FILE"
sv tenant create acme >/dev/null
cipher_volumes acme/ 2M
# The hooks sit in the I/O engine, so metadata must go through it as
# pwrite: faults of stores through the mapping are test-metamap.sh's.
start_server acme io=$IO meta-io=write

for c in $CIPHERS; do
    status=0
    $PY - "$(uri "$c")" "$SEALVOL_FAULT_FILE" "$c" <<'PYEOF' || status=$?
import errno, os, sys, nbd
uri, fault, cipher = sys.argv[1], sys.argv[2], sys.argv[3]
h = nbd.NBD(); h.connect_uri(uri)
size, R, L = h.get_size(), 256 * 1024, 64 * 1024
old = os.urandom(size)
h.pwrite(old, 0); h.flush()
specs = ["write data EIO", "write data ENOSPC", "write data ENOSPC short", "flush data EIO"]
if cipher != "aes-256-xts":
    specs += ["write meta EIO", "write meta ENOSPC", "flush meta EIO"]
hooks = False
for n, spec in enumerate(specs):
    off = R + n * L
    new = os.urandom(L)
    open(fault, "w").write(spec + "\n")
    want = "ENOSPC" if "ENOSPC" in spec else "EIO"
    try:
        if spec.startswith("flush"):
            h.pwrite(new, off); h.flush()
        else:
            h.pwrite(new, off)
        got = None
    except nbd.Error as e:
        got = e.errno if isinstance(e.errno, str) else errno.errorcode.get(e.errno)
    open(fault, "w").write("")
    if got is None:
        continue                      # not a test build: nothing injected
    hooks = True
    assert got == want, "%s: client saw errno %s, wanted %s" % (spec, got, want)
    back = h.pread(L, off)            # must not fail: nothing half-updated
    for b in range(0, L, 4096):
        blk = back[b:b + 4096]
        assert blk in (old[off + b:off + b + 4096], new[b:b + 4096]), \
            "%s: block %d is neither old nor new" % (spec, (off + b) // 4096)
    fresh = os.urandom(L)
    h.pwrite(fresh, off)
    assert h.pread(L, off) == fresh, "%s: rewrite after the fault" % spec
    old = old[:off] + fresh + old[off + L:]
    print("%s: %-24s -> %s, old-or-new, rewrite ok" % (cipher, spec, got))
assert h.pread(size, 0) == old, "contents differ at the end"
sys.exit(0 if hooks else 77)
PYEOF
    [ $status = 77 ] && { echo "SKIP: built without --enable-test-hooks"; exit 77; }
    [ $status = 0 ] || fail "$c: fault injection"
done
stop_server
for c in $AEAD_CIPHERS; do sv volume verify "acme/$c" >/dev/null || fail "$c: verify after faults"; done
# A session that lost a sync or a write part way must not end "clean" (the
# next one would trust its slots); flush faults hit every cipher.
for c in $CIPHERS; do
    state=$(sv volume info "acme/$c" --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    [ "$state" = open ] || fail "$c: session after failed syncs ended '$state'"
done
