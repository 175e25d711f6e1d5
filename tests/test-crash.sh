#!/bin/bash
# Crash safety, short run: the crash harness (tests/crash-harness.py) against
# one volume per cipher, for io=uring and io=sync: random SIGKILLs under
# stamping writers, every block verified after each restart.  The long soak
# is bench/crash-soak.sh.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires $PY -c 'import nbd'

new_tenant crash >/dev/null
crash_volumes crash 2M
# On rbd a killed server keeps its volume locks until they are broken
# (docs/format.md), and the engine does not matter (librbd does the I/O).
engines="uring sync" rbd_args=()
if [ "$SEALVOL_BACKEND" = rbd ]; then
    engines=uring
    rbd_args=(--size $((2 * 1024 * 1024)) --after-kill
              "for v in ${VOLS//,/ }; do $SEALVOL --root $ROOT volume break-lock crash/\$v; done")
fi
for io in $engines; do
    $PY "$top_srcdir/tests/crash-harness.py" --root "$ROOT" --tenant crash \
        --volumes "$VOLS" --plugin "$SEALVOL_PLUGIN" --io $io "${rbd_args[@]}" \
        --rounds "${CRASH_ROUNDS:-8}" --seed "${CRASH_SEED:-20261202}" \
        --log "$TMP/nbdkit.log" \
        || fail "crash harness failed with io=$io"
done
for c in $AEAD_CIPHERS; do
    sv volume verify "crash/$c" >/dev/null || fail "$c: verify after the crashes"
done
