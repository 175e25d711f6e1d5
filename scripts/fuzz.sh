#!/bin/bash
# Build every libFuzzer target in fuzz/ with clang and run each for a
# bounded time on a copy of its seed corpus (fuzz/corpus/TARGET).
#
# The library's sources are compiled here with the same sanitizers
# (ASan + UBSan, no recovery) and coverage instrumentation as the targets,
# rather than linked from the gcc-built .libs/libsealvol.a: a sanitizer
# only sees code it instrumented.  Needs a configured tree (config.h).
#
#   FUZZ_SECONDS=N   seconds per target (default 30)
#   FUZZ_TARGETS="superblock names"   only these (default: every fuzz/fuzz-*.c)
#   FUZZ_CC=clang-NN another clang (default clang)
#   FUZZ_BUILD_DIR=DIR  build there and keep it (default: a temporary
#                    directory, removed at exit), e.g. to rerun a saved
#                    input: DIR/bin/fuzz-TARGET fuzz/crashes/TARGET/FILE
#
# Prints "PASS|FAIL fuzz-TARGET: N execs (N/s)" per target, then
# "N passed, N failed"; exits 1 if any target failed.  A failing input is
# copied to fuzz/crashes/TARGET/.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
seconds=${FUZZ_SECONDS:-30}
CC=${FUZZ_CC:-clang}

die () { echo "fuzz.sh: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

case $seconds in
    ''|*[!0-9]*|0) die "FUZZ_SECONDS must be a positive number of seconds" ;;
esac
[ -f "$top/config.h" ] || die "no config.h: run ./autogen.sh && ./configure first"

# clang and its sanitizer runtimes (libFuzzer lives in libclang-rt).
have_fuzzer () {
    echo 'int LLVMFuzzerTestOneInput (const char *d, unsigned long n) { (void) d; (void) n; return 0; }' \
        | "$CC" -x c -fsanitize=fuzzer,address,undefined -o /dev/null - >/dev/null 2>&1
}
if ! have_fuzzer; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "fuzz.sh: installing clang and libclang-rt-14-dev" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            clang libclang-rt-14-dev >/dev/null 2>&1 \
            || { apt-get update >/dev/null 2>&1 \
                 && DEBIAN_FRONTEND=noninteractive apt-get install -y \
                    --no-install-recommends clang libclang-rt-14-dev >/dev/null; }
    fi
    have_fuzzer || die "$CC cannot build -fsanitize=fuzzer (apt-get install clang libclang-rt-14-dev)"
fi

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
# shellcheck disable=SC2086
pkg_cflags=$(pkg-config --cflags $pkgs)
# shellcheck disable=SC2086
pkg_libs=$(pkg-config --libs $pkgs)
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=all"
cflags="-g -O1 -fno-omit-frame-pointer $sanitize -Wall -Wextra
    -I$top -I$top/crypto -I$top/server -I$top/qos $pkg_cflags"

# The library's .c files, as Makefile.am lists them.
lib_sources=$(awk '/^libsealvol_la_SOURCES/ { on = 1 }
                   on { for (i = 1; i <= NF; i++) if ($i ~ /\.c$/) print $i
                        if ($0 !~ /\\$/) on = 0 }' "$top/Makefile.am")
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
# node/csi.proto so that it does not depend on a build tree.
extra_for () {
    case $1 in
        csi-request)
            if [ ! -f "$work/gen/csi.pb-c.c" ]; then
                mkdir -p "$work/gen"
                protoc-c -I"$top/node" -I"$(pkg-config --variable=includedir protobuf)" \
                    --c_out="$work/gen" csi.proto google/protobuf/wrappers.proto >&2
            fi
            echo "-I$top/node -I$work/gen $top/node/csi-request.c $top/node/csi-status.c
                  $work/gen/csi.pb-c.c
                  $work/gen/google/protobuf/wrappers.pb-c.c
                  $(pkg-config --cflags grpc) $(pkg-config --cflags --libs libprotobuf-c)" ;;
    esac
}

# A length that covers each format (libFuzzer would guess it from the
# seeds, too short for names).
max_len () {
    case $1 in
        superblock|metadata|service-types|tenant-conf|csi-request) echo 4096 ;;
        *) echo 256 ;;
    esac
}

pass=0 fail=0
for t in $targets; do
    src="$top/fuzz/fuzz-$t.c" bin="$work/bin/fuzz-$t" log="$work/$t.log"
    [ -f "$src" ] || die "no $src"
    # shellcheck disable=SC2086
    if ! $CC $cflags -fsanitize=fuzzer "$src" $(extra_for "$t") "$work/libsealvol-fuzz.a" \
            $pkg_libs -lpthread -lm -o "$bin" 2>"$log"; then
        cat "$log" >&2
        echo "FAIL fuzz-$t: does not build"
        fail=$((fail + 1))
        continue
    fi
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    if [ -d "$top/fuzz/corpus/$t" ]; then
        cp -R "$top/fuzz/corpus/$t/." "$work/corpus/$t/"
    fi
    # A dictionary where one helps: tokens a mutator would take long to guess.
    dict=()
    [ -f "$top/fuzz/$t.dict" ] && dict=(-dict="$top/fuzz/$t.dict")
    status=0
    TMPDIR="$work/tmp" "$bin" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -max_len="$(max_len "$t")" -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$t/" "${dict[@]}" \
        "$work/corpus/$t" >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    if [ "$status" = 0 ]; then
        echo "PASS fuzz-$t: ${execs:-?} execs (${rate:-?}/s)"
        pass=$((pass + 1))
    else
        echo "FAIL fuzz-$t: exit $status after ${execs:-?} execs"
        grep -E 'ERROR|SUMMARY|runtime error|property violated' "$log" | head -5 || true
        if compgen -G "$work/artifacts/$t/*" >/dev/null; then
            mkdir -p "$top/fuzz/crashes/$t"
            cp "$work/artifacts/$t"/* "$top/fuzz/crashes/$t/"
            for f in "$work/artifacts/$t"/*; do
                echo "  input saved as fuzz/crashes/$t/${f##*/}"
            done
        else
            tail -20 "$log"
        fi
        fail=$((fail + 1))
    fi
done

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
