#!/bin/bash
# The unauthenticated disk flood: thousands of
# plaintext TCP connections in a few seconds against a server whose nbdkit
# does not require TLS, so that every one reaches the plugin and is
# refused there.  The refusals are rate limited (unlimited, a log line
# and an audit event per attempt would write megabytes in seconds), so
# both logs stay small, and a summary event counts the rest: the refusals logged one by one plus the summaries'
# counts are exactly the refusals the server made.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'

BOUND=65536     # bytes each log may hold after the flood
ATTEMPTS=3000    # unlogged, 3000 refusals write about 500 KB to each log

sv tenant create acme >/dev/null
sv volume create acme/db --size 1M >/dev/null
audit=$ROOT/acme/log/audit.log
before=$(stat -c %s "$audit")

# Without -v, as in production: nbdkit's own debug lines are not at issue.
port=$(free_port)
nbdkit -f -i 127.0.0.1 -p "$port" --tls=off "$SEALVOL_PLUGIN" \
    root="$ROOT" tenant=acme io=$IO 2>"$TMP/flood.log" &
pid=$!
cleanup_fn "end_process $pid"
wait_port "$port" || fail "nbdkit did not start: $(cat "$TMP/flood.log")"

$PY "$top_srcdir/tests/nbd-raw-go.py" --flood $ATTEMPTS \
    "127.0.0.1:$port" "b'db'" >"$TMP/flood.out" || fail "flood client failed"
read -r _ attempts _ refused _ accepted <"$TMP/flood.out"
echo "flood: $attempts attempts, $refused refused, $accepted accepted"
[ "$accepted" = 0 ] || fail "a plaintext client was accepted"
[ "$refused" -ge 1000 ] || fail "only $refused of $ATTEMPTS attempts refused: too few to call it a flood"
kill $pid; wait $pid 2>/dev/null || true       # the last counts go out now

nbdkit_bytes=$(stat -c %s "$TMP/flood.log")
audit_bytes=$(( $(stat -c %s "$audit") - before ))
echo "log bytes after $refused refusals: nbdkit $nbdkit_bytes, audit $audit_bytes"
[ "$nbdkit_bytes" -lt $BOUND ] || fail "nbdkit log grew by $nbdkit_bytes bytes"
[ "$audit_bytes" -lt $BOUND ] || fail "audit log grew by $audit_bytes bytes"

$PY - "$audit" "$refused" "$attempts" <<'PYEOF' || fail "audit log does not account for every refusal"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
refused, attempts = int(sys.argv[2]), int(sys.argv[3])
plain = [e for e in events if e.get("reason") == "plaintext over TCP"]
one_by_one = sum(1 for e in plain if e["event"] == "connection-refused")
summed = sum(e["count"] for e in plain if e["event"] == "connection-refused-summary")
print("audit: %d refusals one by one, %d in summaries" % (one_by_one, summed))
# The server may have refused a connection whose reply the client missed.
assert refused <= one_by_one + summed <= attempts, (one_by_one, summed, refused, attempts)
assert summed > 0
PYEOF
grep -q "refused [0-9]* more connections (plaintext over TCP) without logging each" \
    "$TMP/flood.log" || fail "no summary line in nbdkit's log"
