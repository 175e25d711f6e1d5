#!/bin/bash
# Crash loop for online tenant-key rotation (issue #20): the crash harness
# stamps blocks of one volume per cipher through a served tenant, and in
# every round "tenant rotate-key" runs beside it and is SIGKILLed at a
# random moment, as is the server.  After each round every block must read
# as its last acknowledged stamp or the one in flight (never an error), so
# every volume opens with the keys tenant.state names; at the end a rerun
# finishes the rotation and everything still verifies.
# ROTATE_CRASH_ROUNDS rounds (default 50: each round covers every cipher),
# ROTATE_CRASH_SEED the seed.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'

sv tenant create crash >/dev/null
crash_volumes crash 1M
$PY "$top_srcdir/tests/crash-harness.py" --root "$ROOT" --tenant crash \
    --volumes "$VOLS" --plugin "$SEALVOL_PLUGIN" --io "$IO" --writers 2 \
    --rounds "${ROTATE_CRASH_ROUNDS:-50}" --seed "${ROTATE_CRASH_SEED:-20261202}" \
    --beside "$SEALVOL --root $ROOT tenant rotate-key crash" \
    --log "$TMP/nbdkit.log" > "$TMP/harness.out" \
    || fail "crash harness failed: $(cat "$TMP/harness.out"; grep -v debug "$TMP/nbdkit.log" | tail -8)"
cat "$TMP/harness.out"
grep -q "beside: [1-9][0-9]* killed" "$TMP/harness.out" || fail "no rotation was killed"

# A rerun finishes whatever rotation the last kill left.
sv tenant rotate-key crash >/dev/null || fail "the rotation does not finish after the crashes"
v=$(sed -n 's/.*"key-version": \([0-9]*\).*/\1/p' "$ROOT/crash/tenant.state")
[ "$v" -ge 2 ] || fail "no rotation completed (key version $v)"
[ ! -e "$ROOT/crash/tenant.key.next" ] || fail "next key left behind"
for c in $CIPHERS; do
    sv volume info "crash/$c" --json | grep -q "\"tenant_key_version\": $v" \
        || fail "$c not wrapped under key version $v"
done
for c in $AEAD_CIPHERS; do
    sv volume verify "crash/$c" >/dev/null || fail "$c: verify after the crashes"
done
$PY "$top_srcdir/tests/crash-harness.py" --root "$ROOT" --tenant crash \
    --volumes "$VOLS" --plugin "$SEALVOL_PLUGIN" --io "$IO" --rounds 1 \
    --seed 1 --log "$TMP/nbdkit.log" >/dev/null || fail "stamps lost after the final rotation"
echo "rotations killed at random under the crash harness: every block old or new, rotation at version $v"
