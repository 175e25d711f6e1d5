#!/bin/bash
# The README's test command (.ci/run calls it too): install the packages
# (when root), build with warnings as errors, run "make check".  Prints the
# per-test results and ends with one line "N passed, N failed[, N skipped]".
set -uo pipefail
cd "$(dirname "$0")/.."

# The end of each failed test's log in DIR (and any sanitizer report).
show_failed_logs () {
    local log
    for log in "$1"/*.log; do
        if grep -qE '^:test-result: (FAIL|ERROR)' "${log%.log}.trs" 2>/dev/null; then
            echo "---- $log"; tail -30 "$log"
            grep -A20 "ERROR: AddressSanitizer\|runtime error" "$log" | head -40
        fi
    done
}
# This run's logs, in a directory of its own so that two runs never
# overwrite each other's.
LOGS=$(mktemp -d /tmp/sealvol-run.XXXXXX)
echo "logs in $LOGS"

if [ "$(id -u)" = 0 ] && [ "${SEALVOL_SKIP_DEPS:-}" != 1 ]; then
    bash scripts/install-deps.sh >"$LOGS/deps.log" 2>&1 \
        || { tail -30 "$LOGS/deps.log"; echo "0 passed, 1 failed"; exit 1; }
fi

{ ./autogen.sh && ./configure --enable-gcc-warnings --enable-test-hooks && make -j"$(nproc)"; } \
    >"$LOGS/build.log" 2>&1 \
    || { tail -40 "$LOGS/build.log"; echo "0 passed, 1 failed"; exit 1; }

make -j2 check >"$LOGS/check.log" 2>&1
status=$?
grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR):' "$LOGS/check.log" || true
if [ $status -ne 0 ]; then
    show_failed_logs tests
fi
# The C unit tests under valgrind's memcheck.
make check-valgrind 2>&1 | grep -E '^(PASS|FAIL):' | tee -a "$LOGS/check.log"

# The same suite again under AddressSanitizer and UBSan, in its own build
# tree.  nbdkit is not instrumented, so the runtime is preloaded into every
# process of the tests; leaks are checked by the C unit tests' own runs.
if [ "${SEALVOL_NO_SANITIZERS:-}" != 1 ]; then
    # A copy of the sources: autotools refuse a second build of a
    # configured source tree.
    rm -rf build-asan && mkdir build-asan
    git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C build-asan
    if (cd build-asan && ./autogen.sh && ./configure --enable-gcc-warnings \
            --enable-test-hooks --enable-sanitizers=address,undefined \
            && make -j"$(nproc)") \
            >"$LOGS/asan-build.log" 2>&1; then
        # Only nbdkit gets the runtime preloaded (qemu-img's coroutines
        # and ASan do not mix): a wrapper first on PATH, with the shim of
        # tests/sanitizer-shim.c against a deadlock at exit.
        mkdir -p build-asan/asan-bin
        gcc -shared -fPIC -o build-asan/asan-bin/shim.so tests/sanitizer-shim.c
        printf '#!/bin/sh\nLD_PRELOAD="%s %s %s" exec %s "$@"\n' \
            "$(gcc -print-file-name=libasan.so)" "$(gcc -print-file-name=libubsan.so)" \
            "$PWD/build-asan/asan-bin/shim.so" "$(command -v nbdkit)" > build-asan/asan-bin/nbdkit
        chmod +x build-asan/asan-bin/nbdkit
        # csi-sanity is found beside the clone, not beside build-asan.
        (cd build-asan && PATH=$PWD/asan-bin:$PATH \
         CSI_SANITY=${CSI_SANITY:-$PWD/../../shared/tools/csi-sanity} \
         ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
         UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
         CRASH_ROUNDS=3 make -j2 check) >"$LOGS/asan-check.log" 2>&1
        asan=$?
        sed -n 's/^\(PASS\|FAIL\|SKIP\|ERROR\|XPASS\):/asan+ubsan \1:/p' "$LOGS/asan-check.log"
        [ $asan = 0 ] || { echo "asan+ubsan suite failed"; show_failed_logs build-asan/tests; }
    else
        tail -30 "$LOGS/asan-build.log"
        echo "FAIL: asan+ubsan build" | tee -a "$LOGS/check.log"
    fi
    cat "$LOGS/asan-check.log" >> "$LOGS/check.log" 2>/dev/null
fi

# ThreadSanitizer: the plugin under parallel fio load on three volumes.
if [ "${SEALVOL_NO_SANITIZERS:-}" != 1 ]; then
    if bash scripts/tsan-fio.sh 20 >"$LOGS/tsan.log" 2>&1; then
        echo "PASS: tsan-fio" | tee -a "$LOGS/check.log"
    else
        tail -40 "$LOGS/tsan.log"
        echo "FAIL: tsan-fio" | tee -a "$LOGS/check.log"
    fi
fi

# The libFuzzer targets (clang, ASan, UBSan), deterministically: every
# saved input replayed, then a run with a fixed seed and number of runs.
# Random fuzzing (FUZZ_SECONDS) is for developers, never for a CI verdict.
if [ "${SEALVOL_NO_FUZZ:-}" != 1 ]; then
    fuzz=0
    env -u FUZZ_SECONDS -u FUZZ_SEED -u FUZZ_RUNS -u FUZZ_TARGETS -u FUZZ_BIN_DIR \
        bash scripts/fuzz.sh >"$LOGS/fuzz.log" 2>&1 || fuzz=$?
    sed -n 's/^\(PASS\|FAIL\) \(fuzz-[a-z-]*\)/\1: \2/p' "$LOGS/fuzz.log" \
        | tee -a "$LOGS/check.log"
    if [ $fuzz != 0 ]; then
        # What failed, and the command that reproduces it.
        grep -v '^PASS ' "$LOGS/fuzz.log" | tail -40
        grep -q '^FAIL ' "$LOGS/fuzz.log" || echo "FAIL: fuzz" >> "$LOGS/check.log"
    fi
fi

pass=$(grep -cE '^PASS:' "$LOGS/check.log" || true)
fail=$(grep -cE '^(FAIL|ERROR|XPASS):' "$LOGS/check.log" || true)
skip=$(grep -cE '^SKIP:' "$LOGS/check.log" || true)
if [ "$status" -ne 0 ] && [ "$fail" = 0 ]; then fail=1; fi
if [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
[ "$fail" = 0 ]
