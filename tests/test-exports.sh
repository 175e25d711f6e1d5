#!/bin/bash
# Export names "../x", "a/b", "", 4 KiB of "a", a NUL byte,
# absolute paths and another tenant's volume are refused with a clear
# error, nothing is opened, and the server keeps serving.  The export
# description names the volume's tenant and volume ids.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'

sv tenant create acme >/dev/null
sv tenant create other >/dev/null
sv volume create acme/good --size 1M >/dev/null
sv volume create other/secret --size 1M >/dev/null
start_server acme io=$IO

raw_go () { $PY "$top_srcdir/tests/nbd-raw-go.py" "$SOCK" "$1"; }

raw_go "b'good'" >/dev/null || fail "a valid export was refused"
long=$(printf 'a%.0s' $(seq 4096))
for name in "b'../x'" "b'a/b'" "b''" "b'$long'" "b'go\\x00od'" \
            "b'secret'" "b'../other/volumes/secret'" \
            "b'$ROOT/other/volumes/secret'" "b'..'" "b'.hidden'"; do
    status=0
    raw_go "$name" >"$TMP/go.out" 2>&1 || status=$?
    [ "$status" = 1 ] || fail "export $name: status $status, want refusal: $(cat "$TMP/go.out")"
done
# libnbd sees the same refusals as errors.
for name in ../x a/b secret; do
    if $PY -c 'import nbd,sys; h=nbd.NBD(); h.set_export_name(sys.argv[2]); h.connect_unix(sys.argv[1])' \
        "$SOCK" "$name" 2>/dev/null; then
        fail "libnbd connected to export '$name'"
    fi
done

grep -q "refusing export name '../x': contains '/'" "$TMP/nbdkit.log" \
    || fail "no clear log line for ../x"
grep -q "refusing export name '': is empty" "$TMP/nbdkit.log" \
    || fail "no clear log line for the empty name"
grep -q "no such volume: acme/secret" "$TMP/nbdkit.log" \
    || fail "no clear log line for another tenant's volume"

# Still serving, and the other tenant's volume was never opened.
raw_go "b'good'" >/dev/null || fail "server stopped serving"

# The export description says who the volume is (tenant and volume ids),
# which sealvol-csi-node keys "one volume, one attachment" on.
vid=$(sv volume info acme/good --json |
      $PY -c 'import json,sys; print(json.load(sys.stdin)["volume_id"])')
desc=$($PY -c 'import nbd,sys
h = nbd.NBD(); h.set_full_info(True); h.set_export_name("good"); h.connect_unix(sys.argv[1])
print(h.get_export_description())' "$SOCK") || fail "no export description"
[[ $desc =~ ^"sealvol volume acme/good id "[0-9a-f]{32}:$vid$ ]] ||
    fail "export description '$desc', want 'sealvol volume acme/good id TENANT-ID:$vid'"
stop_server
sv volume info other/secret --json |
    $PY -c 'import json,sys; j=json.load(sys.stdin); assert j["sessions"] == 0, j' \
    || fail "another tenant's volume was opened"

# No log injection: a newline in an export name must not
# start a line of the server's own in nbdkit's log; the name shows escaped.
# This server runs without -v: nbdkit's own debug lines print the name raw
# (nbdkit 1.32 does not escape them), so never trust a -v log line by line.
nbdkit -f -U "$TMP/quiet.sock" -P "$TMP/quiet.pid" "$SEALVOL_PLUGIN" \
    root="$ROOT" tenant=acme io=$IO 2>"$TMP/quiet.log" &
quiet_pid=$!
cleanup_fn "end_process $quiet_pid"
for _ in $(seq 50); do [ -s "$TMP/quiet.pid" ] && break; sleep 0.1; done
for name in "b'x\\nFORGED: volume db opened\\\\'" "b'y\\rFORGED\\x1b[2K'"; do
    status=0
    $PY "$top_srcdir/tests/nbd-raw-go.py" "$TMP/quiet.sock" "$name" \
        >"$TMP/go.out" 2>&1 || status=$?
    [ "$status" = 1 ] || fail "export $name: status $status, want refusal"
done
kill $quiet_pid; wait $quiet_pid 2>/dev/null || true
grep -q '^FORGED' "$TMP/quiet.log" && fail "a line was forged: $(cat "$TMP/quiet.log")"
tr '\r' '\n' <"$TMP/quiet.log" | grep -q '^FORGED' &&
    fail "a carriage return forged a line: $(cat -A "$TMP/quiet.log")"
grep -qF "refusing export name 'x\\x0aFORGED: volume db opened\\\\': contains" "$TMP/quiet.log" ||
    fail "the name is not shown escaped: $(cat -A "$TMP/quiet.log")"
grep -qF "refusing export name 'y\\x0dFORGED\\x1b[2K': contains" "$TMP/quiet.log" ||
    fail "the name is not shown escaped: $(cat -A "$TMP/quiet.log")"
echo "ok: control characters in export names are escaped in the log"
