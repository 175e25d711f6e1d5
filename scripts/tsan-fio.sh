#!/bin/bash
# ThreadSanitizer run of the plugin under a parallel fio load (issue 8):
# builds a copy of the tree with --enable-sanitizers=thread, serves one
# volume per cipher from nbdkit with the TSan runtime preloaded, drives
# each with fio (random 4 KiB and 64 KiB reads and writes, 4 jobs, queue
# depth 16, plus trims) and fails on any TSan report.
#   scripts/tsan-fio.sh [SECONDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-20}
work=$(mktemp -d /tmp/sealvol-tsan.XXXXXX)
pid=
cleanup () { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cd "$top"
git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C "$work"
mkdir "$work/src" && mv "$work"/* "$work/src" 2>/dev/null || true
cd "$work/src"
{ ./autogen.sh && ./configure --enable-sanitizers=thread && make -j"$(nproc)"; } \
    >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
root=$work/root
./sealvol --root "$root" tenant create t >/dev/null
for c in aes-256-gcm xchacha20-poly1305 aes-256-xts; do
    ./sealvol --root "$root" volume create "t/$c" --size 256M --cipher "$c" \
        --service-type gp >/dev/null
done
# The shim keeps glibc's locale lock out of the way (tests/sanitizer-shim.c).
gcc -shared -fPIC -o "$work/shim.so" tests/sanitizer-shim.c
TSAN_OPTIONS="halt_on_error=1 exitcode=66 report_signal_unsafe=0" \
LD_PRELOAD="$(gcc -print-file-name=libtsan.so) $work/shim.so" \
    nbdkit -f -U "$work/s.sock" ./.libs/nbdkit-sealvol-plugin.so \
    root="$root" tenant=t 2>"$work/nbdkit.log" &
pid=$!
for _ in $(seq 100); do [ -S "$work/s.sock" ] && break; sleep 0.1; done
for c in aes-256-gcm xchacha20-poly1305 aes-256-xts; do
    fio --name=tsan --ioengine=nbd --uri="nbd+unix:///$c?socket=$work/s.sock" \
        --rw=randrw --bssplit=4k/70:64k/30 --iodepth=16 --numjobs=4 \
        --size=256M --time_based --runtime="$secs" --trim_percentage=5 \
        --output-format=terse >/dev/null 2>&1 &
done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
if ! kill -0 "$pid" 2>/dev/null; then
    echo "nbdkit died:"
    if grep -q "WARNING: ThreadSanitizer" "$work/nbdkit.log"; then
        grep -A60 "WARNING: ThreadSanitizer" "$work/nbdkit.log" | head -80
    else
        tail -20 "$work/nbdkit.log"
    fi
    echo "0 passed, 1 failed"; exit 1
fi
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
if grep -q "WARNING: ThreadSanitizer" "$work/nbdkit.log"; then
    grep -A30 "WARNING: ThreadSanitizer" "$work/nbdkit.log" | head -60
    echo "0 passed, 1 failed"; exit 1
fi
echo "tsan: no reports under $secs s of parallel fio on three volumes"
echo "1 passed, 0 failed"
