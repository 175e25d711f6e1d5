#!/bin/bash
# The long crash soak (scenario 15): the crash harness for every cipher,
# with io=uring and io=sync, ROUNDS rounds each (default 200): random
# SIGKILLs under 4 stamping writers per volume, every block verified after
# each restart.  Prints the harness's summary lines and "N passed, N failed".
#   bench/crash-soak.sh [ROUNDS]
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rounds=${1:-200}
tmp=$(mktemp -d /tmp/sealvol-soak.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
sv () { "$top/sealvol" --root "$tmp/root" "$@" >/dev/null; }
sv tenant create soak
vols=
for c in aes-256-gcm xchacha20-poly1305 aes-256-xts; do
    sv volume create "soak/$c" --size 8M --cipher "$c" --service-type unlimited
    vols=${vols:+$vols,}$c
done
pass=0 failed=0
for io in uring sync; do
    if /usr/bin/python3 "$top/tests/crash-harness.py" --root "$tmp/root" --tenant soak \
           --volumes "$vols" --plugin "$top/.libs/nbdkit-sealvol-plugin.so" \
           --io $io --rounds "$rounds" --log "$tmp/nbdkit.log"; then
        pass=$((pass + 1))
    else
        failed=$((failed + 1))
    fi
done
for c in aes-256-gcm xchacha20-poly1305; do
    if "$top/sealvol" --root "$tmp/root" volume verify "soak/$c"; then
        pass=$((pass + 1))
    else
        failed=$((failed + 1))
    fi
done
echo "$pass passed, $failed failed"
[ $failed = 0 ]
