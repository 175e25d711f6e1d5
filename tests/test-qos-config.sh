#!/bin/bash
# QoS configuration end to end: service types are checked at create and
# kept in the authenticated superblock; set-service-type changes them under
# a running server; tenant capacity and volume-count caps hold; an edited
# service-types.conf takes effect without a restart, a broken one is
# logged and the last good one stays; per-volume counters are published.
# Rates are checked only as coarse bounds (the accuracy is the QoS
# benchmark's job): 60 reads at 40 IOPS cannot finish in under a second.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'

sv tenant create acme >/dev/null
[ -f "$ROOT/service-types.conf" ] || fail "tenant create did not install service-types.conf"
for t in gp piops unlimited; do
    grep -q "^\[$t\]" "$ROOT/service-types.conf" || fail "default service types lack $t"
done
printf '[slow]\niops = 40\n[fast]\niops = 100000\n[gp]\nweight = 1\n' > "$ROOT/service-types.conf"

expect_fail 1 "no such service type 'gold'" sv volume create acme/x --size 1M --service-type gold
sv volume create acme/v --size 4M --service-type slow >/dev/null
sv volume info acme/v --json | grep -q '"service_type": "slow"' || fail "service type not recorded"
sv volume set-service-type acme/v fast | grep -q "now has service type fast"
sv volume info acme/v --json | grep -q '"service_type": "fast"' || fail "set-service-type not recorded"
expect_fail 1 "no such service type 'gold'" sv volume set-service-type acme/v gold
expect_fail 2 "wrong number of arguments" sv volume set-service-type acme/v
sv volume set-service-type acme/v slow >/dev/null

# Tenant caps: capacity and number of volumes.
printf '[caps]\ncapacity = 10M\nvolumes = 2\n' >> "$ROOT/acme/tenant.conf"
expect_fail 1 "capacity cap" sv volume create acme/big --size 8M
sv volume create acme/w --size 4M >/dev/null
expect_fail 1 "its cap is 2" sv volume create acme/y --size 1M
printf '[caps]\nvolumes = many\n' >> "$ROOT/acme/tenant.conf"
expect_fail 1 "bad value 'many'" sv volume create acme/y --size 1M
sed -i '/volumes = many/d' "$ROOT/acme/tenant.conf"
sed -i '$d' "$ROOT/acme/tenant.conf"

timed_reads () {   # prints seconds taken by N 4 KiB reads at queue depth 1
    $PY - "$(uri v)" "$1" <<'PYEOF'
import sys, time, nbd
h = nbd.NBD(); h.connect_uri(sys.argv[1])
h.pread(4096, 0)
t = time.monotonic()
for i in range(int(sys.argv[2])):
    h.pread(4096, (i * 4096) % (4 << 20))
print("%.2f" % (time.monotonic() - t))
PYEOF
}
slower_than () { $PY -c "import sys; sys.exit(not float('$1') > float('$2'))"; }

start_server acme io=$IO
s=$(timed_reads 60); echo "slow (40 IOPS): 60 reads in ${s}s"
slower_than "$s" 1.0 || fail "40 IOPS limit not applied"

# Edit the file: the new limit applies within a second, no restart.
printf '[slow]\niops = 100000\n[fast]\niops = 100000\n[gp]\nweight = 1\n' > "$ROOT/service-types.conf"
sleep 1.5
s=$(timed_reads 60); echo "after the edit: 60 reads in ${s}s"
slower_than 1.0 "$s" || fail "edited limit not applied"

# A broken file: one log line, the last good configuration stays.
printf '[slow]\niops = 40\n[fast]\niops = forty\n' > "$ROOT/service-types.conf"
sleep 1.5
s=$(timed_reads 60); echo "broken file: 60 reads in ${s}s"
slower_than 1.0 "$s" || fail "a broken file changed the limits"
grep -q "bad value 'forty'; keeping the last good service types" "$TMP/nbdkit.log" \
    || fail "broken service-types.conf not logged"

# set-service-type under the running server.
printf '[slow]\niops = 40\n[fast]\niops = 100000\n[gp]\nweight = 1\n' > "$ROOT/service-types.conf"
sv volume set-service-type acme/v fast >/dev/null
sleep 1.5
s=$(timed_reads 60); echo "set to fast: 60 reads in ${s}s"
slower_than 1.0 "$s" || fail "set-service-type not picked up"
sv volume set-service-type acme/v slow >/dev/null
sleep 1.5
s=$(timed_reads 60); echo "set to slow: 60 reads in ${s}s"
slower_than "$s" 1.0 || fail "set-service-type back to slow not picked up"
sleep 1.2
sv volume info acme/v --json | $PY -c '
import json, sys
st = json.load(sys.stdin)["stats"]
assert st["service_type"] == "slow" and st["ops"] >= 40 and st["throttled_ns"] > 5 * 10**8, st
' || fail "per-volume counters"
stop_server
