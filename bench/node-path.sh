#!/bin/bash
# sealvol node path: the whole stack a CSI node gives a pod without the
# kernel NBD module -- sealvol-attach (a FUSE file over libnbd/TLS), a
# loop device on it, ext4, a file -- against fio's nbd engine on the same
# export, in one run.  One storage host on 127.0.0.1: nbdkit with the
# sealvol plugin, TLS with client certificates (--tls-verify-peer),
# io=uring, one 512 MiB aes-256-gcm volume with the `unlimited` service
# type, filled from /dev/urandom first so that reads decrypt real data.
#
# Each round measures every variant of the stack (attached, losetup,
# mkfs.ext4 -- no lazy init, so nothing writes behind fio's back --
# mounted, then detached again) in rotated order, each right after (or,
# every other round, right before) fio's nbd engine on the export, with
# fio libaio direct=1 at queue depth 16 on a 256 MiB file:
#   4k-randwrite  4 KiB random writes (IOPS)
#   1m-read       1 MiB sequential reads (MiB/s)
# A variant's ratio is to the nbd engine of its own pair: on a shared
# machine the speed drifts within minutes, and a pair is measured within
# seconds.  Printed: the medians over the rounds and each round's ratio
# (targets, issue 21: >= 0.6 on 4k-randwrite, >= 0.8 on 1m-read).
#
# usage: bench/node-path.sh [--rounds 3] [--runtime 10] [--connections N]
#            [--variant NAME PROGRAM "ATTACH OPTIONS" "LOSETUP OPTIONS"]...
#   --variant  a stack to measure (repeatable); PROGRAM is a sealvol-attach
#              binary (e.g. an older build, to compare), the options go to
#              it and to losetup.  Default: one variant "stack", this
#              build's sealvol-attach with the losetup options that
#              node/node-attach.c uses (--direct-io=on).
# Root, /dev/fuse, loop devices, fio with the nbd and libaio engines,
# nbdkit, certtool.  A benchmark, not a test: not part of make check.

ROUNDS=3 RUNTIME=10
NAMES=() PROGS=() AOPTS=() LOPTS=()
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --runtime) RUNTIME=$2; shift 2 ;;
        --variant) NAMES+=("$2") PROGS+=("$3") AOPTS+=("$4") LOPTS+=("$5"); shift 5 ;;
        -h|--help) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "$0: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
source "$top_srcdir/tests/functions.sh"
requires test "$(id -u)" = 0
requires test -c /dev/fuse
requires fio --enghelp=nbd
requires fio --enghelp=libaio
requires certtool --version
if [ ${#NAMES[@]} = 0 ]; then
    NAMES=(stack) PROGS=("$top_builddir/sealvol-attach") AOPTS=("")
    LOPTS=("--direct-io=on")
fi

make_pki bench
sv tenant create acme >/dev/null
sv volume create acme/fs --size 512M --cipher aes-256-gcm --service-type unlimited >/dev/null
start_tcp tls --tls=require --tls-certificates="$P/server" --tls-verify-peer -- tenant=acme io=uring
URI="nbds://127.0.0.1:${PORT[tls]}/fs?tls-certificates=$P/acme"
# fio's nbd engine takes no file names in its URI: libnbd then looks for
# the client's certificates in /etc/pki/libnbd for root and in
# ~/.pki/libnbd for anyone else, so fio runs as nobody with a HOME that
# has them.
FIOHOME=$(mktemp -d /tmp/sealvol-bench-fio.XXXXXX)
cleanup_fn rm -rf "$FIOHOME"
mkdir -p "$FIOHOME/.pki"
cp -r "$P/acme" "$FIOHOME/.pki/libnbd"
chmod 755 "$FIOHOME"
chown -R nobody "$FIOHOME/.pki"
NBD_URI="nbds://127.0.0.1:${PORT[tls]}/fs"
head -c 512M /dev/urandom >"$TMP/fill.img"
nbdcopy "$TMP/fill.img" "$URI"
rm -f "$TMP/fill.img"

JOBS=("4k-randwrite --rw=randwrite --bs=4k" "1m-read --rw=read --bs=1m")
COMMON=(--iodepth=16 --numjobs=1 --size=256M --time_based --runtime="$RUNTIME"
        --ramp_time=2 --output-format=json)

# fio_result JSON-FILE: "IOPS MiB/s" of the job's busy side.
fio_result () {
    $PY - "$1" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
job = json.loads(text[text.index("{"):])["jobs"][0]
side = job["write"] if job["write"]["io_bytes"] else job["read"]
print("%.0f %.1f" % (side["iops"], side["bw_bytes"] / 2**20))
PY
}

# record VARIANT JOB: fio's output in $TMP/out.json to $TMP/results,
# with the round.
record () { echo "$r $1 $2 $(fio_result "$TMP/out.json")" >>"$TMP/results"; }

# measure_nbd NAME: the nbd engine, recorded as nbd@NAME (the pair's).
measure_nbd () {
    local j name=$1
    for j in "${JOBS[@]}"; do
        set -- $j
        HOME=$FIOHOME setpriv --reuid=nobody --regid=nogroup --clear-groups \
            fio --name=nbd --ioengine=nbd --uri="$NBD_URI" "${@:2}" "${COMMON[@]}" >"$TMP/out.json"
        record "nbd@$name" "$1"
        sync
    done
}

# measure_stack NAME PROGRAM ATTACH-OPTS LOSETUP-OPTS
measure_stack () {
    local name=$1 prog=$2 j loop disk=$TMP/disk
    touch "$disk"
    # shellcheck disable=SC2086
    "$prog" $3 "$URI" "$disk" 2>>"$TMP/attach.log" &
    local pid=$!
    for _ in $(seq 100); do is_mounted "$disk" && break; sleep 0.1; done
    is_mounted "$disk" || fail "$name: sealvol-attach did not mount: $(tail -3 "$TMP/attach.log")"
    # shellcheck disable=SC2086
    loop=$(losetup -f --show $4 "$disk")
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$loop"
    mkdir -p "$TMP/mnt"
    mount "$loop" "$TMP/mnt"
    for j in "${JOBS[@]}"; do
        set -- $j
        fio --name=stack --ioengine=libaio --direct=1 --filename="$TMP/mnt/fio.dat" \
            "${@:2}" "${COMMON[@]}" >"$TMP/out.json"
        record "$name" "$1"
        sync
    done
    umount "$TMP/mnt"
    losetup -d "$loop"
    sleep 0.5                   # the loop device lets go of the file
    fusermount3 -u "$disk"
    wait "$pid"
}

echo "node path: 512 MiB aes-256-gcm over TLS (client certificates), fio QD16," \
     "${RUNTIME}s per test, median of $ROUNDS rounds, $(date -u +%F), $(nproc) cores"
n=${#NAMES[@]}
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < n; k++)); do
        v=$(( (k + r) % n ))
        echo "  round $((r + 1)): ${NAMES[$v]} and the nbd engine ..."
        ((r % 2)) || measure_nbd "${NAMES[$v]}"
        measure_stack "${NAMES[$v]}" "${PROGS[$v]}" "${AOPTS[$v]}" "${LOPTS[$v]}"
        ((r % 2 == 0)) || measure_nbd "${NAMES[$v]}"
    done
done

$PY - "$TMP/results" "${NAMES[@]}" <<'PY'
import statistics, sys
# Each ratio is to the nbd engine of the same pair; the table gives the
# medians, and each round's ratio after them.
res = {}
for line in open(sys.argv[1]):
    r, v, job, iops, mibs = line.split()
    res[(v, job, r)] = (float(iops), float(mibs))
rounds = sorted({k[2] for k in res})
target = {"4k-randwrite": (0, 0.6), "1m-read": (1, 0.8)}
print("\n%-34s %10s %10s %7s  %s" % ("variant / test", "IOPS", "MiB/s", "x nbd", "x nbd each round"))
for v in sys.argv[2:]:
    for job, (col, want) in target.items():
        for name in ("nbd@" + v, v):
            med = [statistics.median(res[(name, job, r)][i] for r in rounds) for i in (0, 1)]
            ratios = [res[(name, job, r)][col] / res[("nbd@" + v, job, r)][col] for r in rounds]
            ratio = statistics.median(ratios)
            mark = "" if name != v else ("PASS" if ratio >= want else "MISS") + " (target >= %.1f)" % want
            print("%-34s %10.0f %10.1f %7.2f  %-18s %s" % (name + " " + job, med[0], med[1], ratio,
                  " ".join("%.2f" % x for x in ratios), mark))
PY
