#!/usr/bin/env bash
# Failover between two gateways of one RBD tenant (issue 18): gateways A
# and B (two nbdkit, same root and tenant key, one micro-ceph pool) on
# two Unix sockets; sealvol-attach with both addresses, ext4 on a loop
# device on its FUSE file, a writer writing and fsyncing files.
#   1  while A holds the volume, B refuses it: "in use by another gateway"
#      (test-rbd shows the one-line error of the CLI)
#   2  A is SIGKILLed mid-write; the operator runs 'volume break-lock';
#      sealvol-attach moves to B within its --timeout, retrying the
#      requests in flight; the writer saw no error and wrote on; every
#      file verifies after a remount, and the volume verifies
# Needs root, /dev/fuse, loop devices and Ceph (skipped without).
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires_fuse_loop
requires mkfs.ext4 -V
requires nbdkit --version
SEALVOL_BACKEND=rbd
TIMEOUT=30

new_tenant acme >/dev/null
sv volume create acme/fs --size 128M --service-type unlimited >/dev/null
start_server acme io=$IO
A=$NBDKIT_PID
URI_A=$(uri fs)
start_gateway b acme io=$IO
B=$GW_PID
SOCK=$TMP/b.sock
URI_B=$(uri fs)
start_attach "$TMP/disk" "$URI_A" "$URI_B" --timeout $TIMEOUT
loop_ext4 "$TMP/disk"

# ---- 1 ----
nbd_read_to "$URI_B" 0 4096 "$TMP/got" 2>/dev/null &&
    fail "gateway B opened a volume gateway A holds"
grep -q "volume acme/fs is in use by another gateway: locked by client\.[0-9]* at .*pid $A" \
    "$TMP/b.log" || fail "B's refusal does not name A: $(grep acme/fs "$TMP/b.log")"

# ---- 2 ----
start_writer
wait_writer_progress $TIMEOUT "the start"
sleep 1
before=$(wc -l <"$TMP/done")
t0=$(date +%s.%N)
kill -KILL $A
wait $A 2>/dev/null || true
sleep 2                   # the writer waits: A is gone, B refuses the volume
[ "$(wc -l <"$TMP/done")" -le $((before + 1)) ] ||
    fail "files were written with no gateway to take them"
sv volume break-lock acme/fs >"$TMP/out" || fail "break-lock failed"
grep -q "blocklisted and unlocked client\." "$TMP/out" || fail "break-lock: $(cat "$TMP/out")"
wait_writer_progress $TIMEOUT "the failover"
t1=$(date +%s.%N)
wait_writer_progress $TIMEOUT "the failover, on B"
stop_writer
grep -q "moved to $URI_B" "$TMP/disk.log" ||
    fail "sealvol-attach did not say it moved: $(tail -3 "$TMP/disk.log")"
! grep -q "refusing" "$TMP/disk.log" || fail "$(grep refusing "$TMP/disk.log")"

remount_check "$TMP/sums" "after the failover"
fusermount3 -u "$TMP/disk"
wait $ATTACH_PID || fail "sealvol-attach did not detach cleanly"
end_process $B || true
sv volume verify acme/fs >/dev/null || fail "verify acme/fs"
echo "failover: $before files written on A; A killed, the writer went on on B" \
     "$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s later (break-lock after 2 s);" \
     "$(wc -l <"$TMP/done") files in all, the last $(wc -l <"$TMP/sums") verified; no error"
