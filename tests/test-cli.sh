#!/bin/bash
# The sealvol CLI: the contract's spellings work, and every error path
# gives its exit status (1 failure, 2 usage) and exactly one clear line.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

# Tenants.
sv tenant create acme | grep -q "created tenant acme"
[ "$(stat -c %a "$ROOT/acme/tenant.key")" = 600 ] || fail "tenant key is not 0600"
expect_fail 1 "tenant acme already exists" sv tenant create acme
expect_fail 2 "bad tenant name '../x'" sv tenant create ../x
expect_fail 2 "bad tenant name" sv tenant create ""
# --kek-file: a new path is generated 0600, an existing key is adopted.
sv tenant create ext --kek-file "$TMP/ext.key" >/dev/null
[ "$(stat -c %a "$TMP/ext.key")" = 600 ] || fail "--kek-file key is not 0600"
[ ! -e "$ROOT/ext/tenant.key" ] || fail "--kek-file tenant has a key under ROOT"
cp "$TMP/ext.key" "$TMP/adopt.key"
sv tenant create adopt --kek-file "$TMP/adopt.key" >/dev/null
chmod 644 "$TMP/adopt.key"
expect_fail 1 "must be mode 0600" sv volume create adopt/v --size 1M
chmod 600 "$TMP/adopt.key"
sv volume create adopt/v --size 1M >/dev/null

# Volumes: the happy path.
sv volume create acme/db --size 16M >/dev/null
sv volume create acme/logs --size 1G --cipher xchacha20-poly1305 --service-type piops >/dev/null
sv volume create acme/scratch --size 512K --cipher aes-256-xts >/dev/null
sv volume create acme/huge --size 15T >/dev/null
[ "$(stat -c %b "$ROOT/acme/volumes/huge/data")" -lt 64 ] || fail "15T volume is not sparse"
sv volume list acme > "$TMP/list"
for v in db logs scratch huge; do grep -q "^$v " "$TMP/list" || fail "list lacks $v"; done
sv volume list acme --json | $PY -c '
import json, sys
vols = {v["name"]: v for v in json.load(sys.stdin)}
assert sorted(vols) == ["db", "huge", "logs", "scratch"], vols
assert vols["logs"]["cipher"] == "xchacha20-poly1305" and vols["logs"]["service_type"] == "piops"
assert vols["huge"]["size"] == 15 << 40
' || fail "list --json"
sv volume info acme/db --json | $PY -c '
import json, sys
j = json.load(sys.stdin)
assert j["size"] == 16 << 20 and j["cipher"] == "aes-256-gcm" and j["integrity"] is True
assert j["service_type"] == "gp" and j["state"] == "clean" and j["block_writes"] == 0
' || fail "info --json"
sv volume info acme/scratch | grep -q "^integrity *false" || fail "info text"
sv volume verify acme/db | grep -q "0 integrity failures" || fail "verify of a fresh volume"
sv volume verify acme/scratch | grep -q "no integrity metadata" || fail "verify of an XTS volume"

# Volumes: every error path.
expect_fail 1 "no such tenant: nobody" sv volume create nobody/v --size 1M
expect_fail 1 "no such tenant: nobody" sv volume list nobody
expect_fail 1 "volume acme/db already exists" sv volume create acme/db --size 1M
expect_fail 2 "bad size '12Q'" sv volume create acme/x --size 12Q
expect_fail 2 "bad size '1000'" sv volume create acme/x --size 1000
expect_fail 2 "bad size '0'" sv volume create acme/x --size 0
expect_fail 2 "bad size '17T'" sv volume create acme/x --size 17T
expect_fail 2 "bad size '-1M'" sv volume create acme/x --size -1M
expect_fail 2 "--size is required" sv volume create acme/x
expect_fail 2 "unknown cipher 'none'" sv volume create acme/x --size 1M --cipher none
expect_fail 2 "unknown cipher 'aes-128-gcm'" sv volume create acme/x --size 1M --cipher aes-128-gcm
expect_fail 2 "bad volume 'acme'" sv volume create acme --size 1M
expect_fail 2 "bad volume 'acme/../x'" sv volume info acme/../x
expect_fail 2 "bad volume 'acme/a b'" sv volume info "acme/a b"
expect_fail 2 "unknown command 'frobnicate'" sv frobnicate a b
expect_fail 2 "unknown volume command 'grow'" sv volume grow acme/db
expect_fail 2 "unknown or incomplete option '--bogus'" sv --bogus volume list acme
expect_fail 2 "missing command" sv
# An option given to a command it does not apply to: exit 2, one line
# naming the option and the command, and nothing changed (the volume is
# still there, the tenant's files and audit log as they were).
sv volume create acme/keep --size 1M >/dev/null
# (the sparse data and meta files left out: a 15T file takes long to read)
snapshot () { find "$ROOT/acme" -type f ! -name data ! -name meta -exec md5sum {} + | sort; }
snapshot >"$TMP/before"
expect_fail 2 "--service-type goes with 'volume create' only, not with 'volume delete'" \
    sv volume delete acme/keep --json --service-type zzz
expect_fail 2 "--size goes with 'volume create' and 'volume resize' only, not with 'volume verify'" \
    sv volume verify acme/keep --size 1T
expect_fail 2 "--size goes with 'volume create' and 'volume resize' only, not with 'tenant rotate-key'" \
    sv tenant rotate-key acme --size 5
expect_fail 2 "--kek goes with 'tenant serve' and the volume commands only, not with 'tenant rotate-key'" \
    sv tenant rotate-key acme --kek "$ROOT/acme/tenant.key"
expect_fail 2 "--json goes with 'volume list' and 'volume info' only, not with 'volume delete'" \
    sv --json volume delete acme/keep
expect_fail 2 "--passphrase-file goes with 'tenant create' and the volume commands only, not with 'tenant serve'" \
    sv tenant serve acme --unix "$TMP/s" --passphrase-file /dev/null
snapshot | diff "$TMP/before" - >/dev/null || fail "a refused option changed the tenant"
sv volume info acme/keep >/dev/null || fail "a refused delete removed the volume"
# The spellings of the contract still work: --root before the command,
# options between the words, --kek and --passphrase-file where the key is
# loaded, --force on delete.
"$SEALVOL" --root "$ROOT" --kek "$ROOT/acme/tenant.key" volume info acme/keep --json >/dev/null
"$SEALVOL" volume --root "$ROOT" list acme --json >/dev/null
sv volume set-service-type acme/keep piops --kek "$ROOT/acme/tenant.key" >/dev/null
sv volume delete --force acme/keep | grep -q "deleted volume acme/keep by force" || fail "delete --force"
expect_fail 1 "no such volume: acme/nope" sv volume info acme/nope
expect_fail 1 "no such volume: acme/nope" sv volume verify acme/nope
expect_fail 1 "no such volume: acme/nope" sv volume delete acme/nope
[ ! -e "$ROOT/acme/volumes/x" ] || fail "a failed create left a directory"

# Delete: gone from the list, its files gone, a second delete fails.
sv volume delete acme/logs | grep -q "deleted volume acme/logs"
[ ! -e "$ROOT/acme/volumes/logs" ] || fail "delete left files"
sv volume list acme | grep -q "^logs " && fail "deleted volume still listed"
expect_fail 1 "no such volume: acme/logs" sv volume delete acme/logs

# A served volume cannot be deleted or verified under its server.
requires $PY -c 'import nbd'
start_server acme io=$IO
$PY -c 'import nbd,sys; h=nbd.NBD(); h.set_export_name("db"); h.connect_unix(sys.argv[1]); open(sys.argv[2],"w").close(); import time; time.sleep(3)' \
    "$SOCK" "$TMP/connected" &
client=$!
cleanup_fn "kill $client 2>/dev/null"
for _ in $(seq 50); do [ -e "$TMP/connected" ] && break; sleep 0.1; done
expect_fail 1 "volume acme/db is in use by another process" sv volume delete acme/db
expect_fail 1 "volume acme/db is in use by another process" sv volume verify acme/db
sv volume info acme/db --json | grep -q '"state": "open"' || fail "info while served"
wait $client
stop_server
sv volume info acme/db --json | grep -q '"state": "clean"' || fail "not clean after stop"
