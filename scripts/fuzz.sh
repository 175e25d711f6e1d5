#!/bin/bash
# Build every libFuzzer target in fuzz/ with clang and run it, in one of
# two modes:
#
#   scripts/fuzz.sh     the deterministic check that CI runs (through
#                       scripts/run-tests.sh).  Per target: (1) replay every
#                       file in fuzz/corpus/TARGET/ and fuzz/crashes/TARGET/
#                       once, then (2) fuzz a fresh copy of that corpus with
#                       a fixed seed for a fixed number of runs
#                       (-seed=FUZZ_SEED -runs=FUZZ_RUNS).  The same tree
#                       gives the same result; a failure prints the command
#                       that reproduces it.
#   FUZZ_SECONDS=N scripts/fuzz.sh
#                       open-ended random fuzzing for developers: the same
#                       replay, then N seconds per target with a seed from
#                       the clock.  A crash it finds is saved to
#                       fuzz/crashes/TARGET/; commit it with its fix.
#
# The library's sources are compiled here with the same sanitizers
# (ASan + UBSan, no recovery) and coverage instrumentation as the targets,
# rather than linked from the gcc-built .libs/libsealvol.a: a sanitizer
# only sees code it instrumented.  Needs a configured tree (config.h).
#
#   FUZZ_SEED=N      libFuzzer's -seed in the deterministic mode (default 1)
#   FUZZ_RUNS=N      its -runs (default: per target, a few seconds' worth)
#   FUZZ_TARGETS="superblock names"   only these (default: every fuzz/fuzz-*.c)
#   FUZZ_CC=clang-NN another clang (default clang)
#   FUZZ_BUILD_DIR=DIR  build there and keep it (default: a temporary
#                    directory, removed at exit), e.g. to rerun a saved
#                    input: DIR/bin/fuzz-TARGET fuzz/crashes/TARGET/FILE
#   FUZZ_BIN_DIR=DIR run the targets already built in DIR (DIR/fuzz-TARGET,
#                    as "make fuzz" does after ./configure CC=clang
#                    --enable-fuzzing) instead of building them
#
# Prints "PASS|FAIL fuzz-TARGET: ..." per target, then "N passed, N
# failed"; exits 1 if any target failed.  A failing input found by fuzzing
# is copied to fuzz/crashes/TARGET/.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-}
seed=${FUZZ_SEED:-1}
CC=${FUZZ_CC:-clang}

die () { echo "fuzz.sh: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

is_count () { case $1 in ''|*[!0-9]*|0) return 1 ;; esac; }
[ -z "$seconds" ] || is_count "$seconds" ||
    die "FUZZ_SECONDS must be a positive number of seconds"
is_count "${FUZZ_RUNS:-1}" || die "FUZZ_RUNS must be a positive number"
case $seed in ''|*[!0-9]*) die "FUZZ_SEED must be a number" ;; esac

# clang and its sanitizer runtimes (libFuzzer lives in libclang-rt).
have_fuzzer () {
    echo 'int LLVMFuzzerTestOneInput (const char *d, unsigned long n) { (void) d; (void) n; return 0; }' \
        | "$CC" -x c -fsanitize=fuzzer,address,undefined -o /dev/null - >/dev/null 2>&1
}
need_fuzzer () {
    have_fuzzer && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "fuzz.sh: installing clang and libclang-rt-14-dev" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            clang libclang-rt-14-dev >/dev/null 2>&1 \
            || { apt-get update >/dev/null 2>&1 \
                 && DEBIAN_FRONTEND=noninteractive apt-get install -y \
                    --no-install-recommends clang libclang-rt-14-dev >/dev/null; }
    fi
    have_fuzzer || die "$CC cannot build -fsanitize=fuzzer (apt-get install clang libclang-rt-14-dev)"
}

if [ -n "${FUZZ_BUILD_DIR:-}" ]; then
    mkdir -p "$FUZZ_BUILD_DIR"
    work=$(cd "$FUZZ_BUILD_DIR" && pwd)
    rm -rf "$work/obj" "$work/corpus" "$work/artifacts" "$work/tmp"
    cleanup () { rm -rf "$work/tmp"; }
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/sealvol-fuzz.XXXXXX")
    cleanup () { rm -rf "$work"; }
fi
trap cleanup EXIT
mkdir -p "$work/obj" "$work/bin" "$work/tmp"

pkgs="openssl libsodium inih json-c liburing"
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=all"

# The .c files of the Makefile.am variables NAME_SOURCES for the names
# matching the regular expression $1 (fuzz targets' own files left out):
# one list, so that fuzz.sh cannot drift from the build.
am_sources () {
    awk -v re="^($1)_SOURCES" '$0 ~ re { on = 1 }
        on { for (i = 1; i <= NF; i++) if ($i ~ /\.c$/ && $i !~ /^fuzz\//) print $i
             if ($0 !~ /\\$/) on = 0 }' "$top/Makefile.am"
}

# The library's .c files, as Makefile.am lists them, compiled into
# $work/libsealvol-fuzz.a.
build_library () {
    local lib_sources
    [ -f "$top/config.h" ] || die "no config.h: run ./autogen.sh && ./configure first"
    # shellcheck disable=SC2086
    pkg_cflags=$(pkg-config --cflags $pkgs)
    # shellcheck disable=SC2086
    pkg_libs=$(pkg-config --libs $pkgs)
    cflags="-g -O1 -fno-omit-frame-pointer $sanitize -Wall -Wextra
        -I$top -I$top/common -I$top/crypto -I$top/server -I$top/qos $pkg_cflags"
    lib_sources=$(am_sources 'lib(svcommon|sealvol)_la')
    [ -n "$lib_sources" ] || die "no libsealvol_la_SOURCES in Makefile.am"

    echo "fuzz.sh: compiling the library with $CC ($sanitize)" >&2
    export CC cflags top work
    # shellcheck disable=SC2086,SC2016
    printf '%s\n' $lib_sources | xargs -P "$(nproc)" -I{} sh -c '
        obj="$work/obj/$(echo {} | tr / _).o"
        $CC $cflags -fsanitize=fuzzer-no-link -c "$top/{}" -o "$obj" \
            2>"$obj.log" || { cat "$obj.log" >&2; exit 1; }' \
        || die "compiling the library failed"
    ar rcs "$work/libsealvol-fuzz.a" "$work"/obj/*.o
}

if [ -n "${FUZZ_TARGETS:-}" ]; then
    targets=$FUZZ_TARGETS
else
    targets=
    for f in "$top"/fuzz/fuzz-*.c; do
        f=${f##*/fuzz-}
        targets="$targets ${f%.c}"
    done
fi

# Targets beyond the library: their own sources, flags and libraries.
# The CSI target needs the protobuf-c code, generated here from
# csi/csi.proto so that it does not depend on a build tree.
extra_for () {
    case $1 in
        csi-request)
            if [ ! -f "$work/gen/csi.pb-c.c" ]; then
                mkdir -p "$work/gen"
                protoc-c -I"$top/csi" -I"$(pkg-config --variable=includedir protobuf)" \
                    --c_out="$work/gen" csi.proto google/protobuf/wrappers.proto >&2
            fi
            echo "-I$top/node -I$top/csi -I$work/gen
                  $(am_sources fuzz_fuzz_csi_request | sed "s#^#$top/#")
                  $work/gen/csi.pb-c.c
                  $work/gen/google/protobuf/wrappers.pb-c.c
                  $(pkg-config --cflags grpc) $(pkg-config --cflags --libs libprotobuf-c)" ;;
    esac
}

# Build target $1 as $work/bin/fuzz-$1 (compiler errors in $2).
build_target () {
    # shellcheck disable=SC2086,SC2046
    $CC $cflags -fsanitize=fuzzer "$top/fuzz/fuzz-$1.c" $(extra_for "$1") \
        "$work/libsealvol-fuzz.a" $pkg_libs -lrbd -lrados -lpthread -lm -o "$work/bin/fuzz-$1" 2>"$2"
}

# A length that covers each format (libFuzzer would guess it from the
# seeds, too short for names).
max_len () {
    case $1 in
        superblock|metadata|service-types|tenant-conf|csi-request) echo 4096 ;;
        *) echo 256 ;;
    esac
}

# The deterministic run's length: a few seconds per target on this
# project's machines (a tenant-conf run opens a tenant, a names run is a
# few string checks).
default_runs () {
    case $1 in
        tenant-conf) echo 30000 ;;
        wrapped-key|service-types) echo 100000 ;;
        superblock) echo 200000 ;;
        metadata|csi-request) echo 500000 ;;
        *) echo 1000000 ;;
    esac
}

# The inputs replayed for target $1: its corpus and its saved crashes.
saved_inputs () {
    local f
    for f in "$top/fuzz/corpus/$1"/* "$top/fuzz/crashes/$1"/*; do
        [ -f "$f" ] && echo "$f"
    done
    return 0
}

# report_failure TARGET LOG: what went wrong, and how to get it again.
report_failure () {
    grep -E 'ERROR|SUMMARY|runtime error|property violated' "$2" | head -5 || true
    # The stack frames in this tree's code.
    grep -E "^ *#[0-9]+ .* in " "$2" | grep -F "$top/" | grep -E '\.c:[0-9]+' \
        | head -8 | sed "s|$top/||" || true
    if [ -n "$seconds" ]; then
        echo "  random fuzzing ($(sed -n 's/^INFO: Seed: /seed /p' "$2" | head -1)); the input is the reproducer"
    else
        echo "  reproduce: ${FUZZ_BIN_DIR:+FUZZ_BIN_DIR=$FUZZ_BIN_DIR }FUZZ_TARGETS=$1 FUZZ_SEED=$seed FUZZ_RUNS=$runs bash scripts/fuzz.sh"
    fi
}

# Replay every saved input of target $1 once; 0 if none fails.
replay () {
    local t=$1 log=$2 input inputs=()
    mapfile -t inputs < <(saved_inputs "$t")
    replayed=${#inputs[@]}
    [ "$replayed" -gt 0 ] || return 0
    TMPDIR="$work/tmp" "$bin" -timeout=10 -rss_limit_mb=2048 "${inputs[@]}" >"$log" 2>&1 && return 0
    input=$(sed -n 's/^Running: //p' "$log" | tail -1 | sed "s|^$top/||")
    echo "FAIL fuzz-$t: a saved input fails: $input"
    report_failure "$t" "$log"
    echo "  by hand: FUZZ_BUILD_DIR=DIR FUZZ_TARGETS=$t bash scripts/fuzz.sh; DIR/bin/fuzz-$t $input"
    return 1
}

# Run a command in $work with a fixed environment and, where the kernel
# allows it, no address randomisation.  libFuzzer's comparison tracing
# feeds compared values, addresses among them, and the comparisons' code
# addresses into its mutations, so without this the same seed takes
# another path on every run.  Every path given is relative to $work, so
# that the stack holds the same strings wherever $work is.
if setarch -R true 2>/dev/null; then
    norandom=(setarch -R)
else
    norandom=()
    echo "fuzz.sh: setarch -R refused: address randomisation stays on, a seeded run may differ between runs" >&2
fi
run_fixed () { (cd "$work" && env -i PATH=/usr/bin:/bin TMPDIR=tmp "${norandom[@]}" "$@"); }

# Fuzz a fresh copy of target $1's corpus and saved crashes: for $runs
# runs from $seed, or for $seconds seconds.
fuzz_target () {
    local t=$1 log=$2 limit dict=()
    if [ -n "$seconds" ]; then
        limit=(-max_total_time="$seconds")
    else
        limit=(-seed="$seed" -runs="$runs")
    fi
    rm -rf "$work/corpus/$t" "$work/artifacts/$t" "$work/$t.dict"
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    saved_inputs "$t" | while read -r f; do cp "$f" "$work/corpus/$t/"; done
    # A dictionary where one helps: tokens a mutator would take long to guess.
    if [ -f "$top/fuzz/$t.dict" ]; then
        cp "$top/fuzz/$t.dict" "$work/$t.dict"
        dict=(-dict="$t.dict")
    fi
    # -reload=0: nothing read back from disk on a timer.
    run_fixed "bin/fuzz-$t" "${limit[@]}" -reload=0 -timeout=10 \
        -rss_limit_mb=2048 -max_len="$(max_len "$t")" -print_final_stats=1 \
        -artifact_prefix="artifacts/$t/" "${dict[@]}" "corpus/$t" >"$log" 2>&1
}

# Copy what libFuzzer saved for target $1 to fuzz/crashes/$1/.
save_artifacts () {
    local f
    compgen -G "$work/artifacts/$1/*" >/dev/null || return 0
    mkdir -p "$top/fuzz/crashes/$1"
    for f in "$work/artifacts/$1"/*; do
        cp "$f" "$top/fuzz/crashes/$1/"
        echo "  input saved as fuzz/crashes/$1/${f##*/}"
    done
}

if [ -n "${FUZZ_BIN_DIR:-}" ]; then
    bindir=$(cd "$FUZZ_BIN_DIR" && pwd)
    if [ "$bindir" != "$work/bin" ]; then
        for t in $targets; do
            ln -sf "$bindir/fuzz-$t" "$work/bin/fuzz-$t"
        done
    fi
else
    need_fuzzer
    build_library
fi

pass=0 fail=0
for t in $targets; do
    bin="$work/bin/fuzz-$t" log="$work/$t.log"
    runs=${FUZZ_RUNS:-$(default_runs "$t")}
    [ -f "$top/fuzz/fuzz-$t.c" ] || die "no $top/fuzz/fuzz-$t.c"
    if [ -z "${FUZZ_BIN_DIR:-}" ] && ! build_target "$t" "$log"; then
        cat "$log" >&2
        echo "FAIL fuzz-$t: does not build"
        fail=$((fail + 1))
        continue
    fi
    [ -x "$bin" ] || die "no ${FUZZ_BIN_DIR:-$work/bin}/fuzz-$t"
    if ! replay "$t" "$log"; then
        fail=$((fail + 1))
        continue
    fi
    status=0
    fuzz_target "$t" "$log" || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -1)
    cov=$(sed -n 's/^#[0-9]*.*DONE *cov: \([0-9]*\) ft: \([0-9]*\).*/cov \1, ft \2/p' "$log" | tail -1)
    if [ -n "$seconds" ]; then
        how="$seconds s random"
    else
        how="seed $seed"
    fi
    if [ "$status" = 0 ]; then
        echo "PASS fuzz-$t: $replayed saved inputs, ${execs:-?} execs ($how, ${cov:-cov ?})"
        pass=$((pass + 1))
    else
        echo "FAIL fuzz-$t: exit $status after ${execs:-?} execs ($how)"
        report_failure "$t" "$log"
        save_artifacts "$t"
        compgen -G "$work/artifacts/$t/*" >/dev/null || tail -20 "$log"
        fail=$((fail + 1))
    fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
