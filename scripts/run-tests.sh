#!/bin/bash
# The README's test command (.ci/run calls it too): install the packages
# (when root), build with warnings as errors, run "make check".  Prints the
# per-test results and ends with one line "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && [ "${SEALVOL_SKIP_DEPS:-}" != 1 ]; then
    bash scripts/install-deps.sh >/tmp/sealvol-deps.log 2>&1 \
        || { tail -30 /tmp/sealvol-deps.log; echo "0 passed, 1 failed"; exit 1; }
fi

{ ./autogen.sh && ./configure --enable-gcc-warnings --enable-test-hooks && make -j"$(nproc)"; } \
    >/tmp/sealvol-build.log 2>&1 \
    || { tail -40 /tmp/sealvol-build.log; echo "0 passed, 1 failed"; exit 1; }

make -j2 check >/tmp/sealvol-check.log 2>&1
status=$?
grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' /tmp/sealvol-check.log || true
if [ $status -ne 0 ]; then
    for log in tests/*.log; do
        if grep -qE '^:test-result: (FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null; then
            echo "---- $log"; tail -30 "$log"
        fi
    done
fi
pass=$(grep -cE '^PASS:' /tmp/sealvol-check.log || true)
fail=$(grep -cE '^(FAIL|ERROR|XPASS):' /tmp/sealvol-check.log || true)
skip=$(grep -cE '^SKIP:' /tmp/sealvol-check.log || true)
if [ "$status" -ne 0 ] && [ "$fail" = 0 ]; then fail=1; fi
if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" = 0 ]
