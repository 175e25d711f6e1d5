#!/bin/bash
# When a volume's last client leaves, the server flushes the volume and
# marks its session clean; with much dirty data that flush takes seconds.
# It must not hold up clients of the tenant's other volumes, and a client
# that reconnects to the volume meanwhile must get it.  The test build's
# fault hooks make every fdatasync of a data file take 4 s longer.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'

export SEALVOL_FAULT_FILE=$TMP/fault
: > "$SEALVOL_FAULT_FILE"
sv tenant create acme >/dev/null
sv volume create acme/a --size 4M >/dev/null
sv volume create acme/b --size 4M >/dev/null
start_server acme io=$IO
echo "flush data SLEEP 4" > "$SEALVOL_FAULT_FILE"

$PY - "$(uri a)" "$(uri b)" <<'PYEOF' || fail "a client waited behind another volume's close"
import sys, time, nbd
ua, ub = sys.argv[1], sys.argv[2]
def open_b_while_a_closes(clients):
    hs = [nbd.NBD() for _ in range(clients)]
    for h in hs:
        h.connect_uri(ua)
    hs[0].pwrite(b"x" * 65536, 0)
    for h in hs:
        h.shutdown()           # a's close now flushes, 4 s
    time.sleep(0.5)
    t = time.monotonic()
    g = nbd.NBD(); g.connect_uri(ub)
    assert g.pread(4096, 0) == bytes(4096)
    waited = time.monotonic() - t
    g.shutdown()
    print("opening b while a closes after %d client(s) left: %.2f s" % (clients, waited))
    assert waited < 2.0, "b's client waited %.1f s" % waited
open_b_while_a_closes(1)
time.sleep(4)
open_b_while_a_closes(2)
# a again, while its close may still be flushing: same data, no refusal.
t = time.monotonic()
h = nbd.NBD(); h.connect_uri(ua)
assert h.pread(65536, 0) == b"x" * 65536
h.shutdown()
PYEOF
: > "$SEALVOL_FAULT_FILE"
stop_server
grep -q "in use by another process" "$TMP/nbdkit.log" && fail "reopening a while it closed was refused"
sv volume verify acme/a >/dev/null || fail "verify a"
state=$(sv volume info acme/a --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["state"])')
[ "$state" = clean ] || fail "a's session ended '$state', not clean"
echo "close of one volume holds up no other"
