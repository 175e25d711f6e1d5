#!/bin/bash
# Node side: sealvol-attach exposes a volume as a
# FUSE file; ext4 on a loop device over it; the storage server is killed
# and restarted while a writer fsyncs files, and the writer sees no error
# (requests wait and reconnect); every file verifies after a remount, and
# the volume verifies.  sealvol-attach runs with its default 4 connections,
# each of which reconnects.  Then, with a second address that serves
# another volume under the same name, sealvol-attach refuses to move
# there (one line) and fails with EIO.  Needs root, /dev/fuse and loop
# devices.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires_fuse_loop

sv tenant create acme >/dev/null
sv volume create acme/fs --size 256M --service-type unlimited >/dev/null
start_server acme io=$IO
start_attach "$TMP/disk" "$(uri fs)" --timeout 30
[ "$(stat -c %s "$TMP/disk")" = 268435456 ] || fail "the FUSE file has the wrong size"
loop_ext4 "$TMP/disk"

( for i in $(seq 30); do
      dd if=/dev/urandom of="$TMP/mnt/f$i" bs=64k count=8 conv=fsync status=none \
          || echo "WRITE ERROR $i"
      (cd "$TMP/mnt" && md5sum "f$i") >> "$TMP/sums"
      sleep 0.1
  done ) > "$TMP/writer.log" 2>&1 &
writer=$!
sleep 1
stop_server KILL                          # the storage host goes away
sleep 2
rm -f "$SOCK"
start_server acme io=$IO                  # ... and comes back
wait $writer
[ ! -s "$TMP/writer.log" ] || fail "the writer saw errors: $(head -3 "$TMP/writer.log")"
n=$(grep -o "connection [0-9]*: reconnected" "$TMP/disk.log" | sort -u | wc -l)
[ "$n" -ge 2 ] || fail "$n connections reconnected: $(cat "$TMP/disk.log")"

remount_check "$TMP/sums" "after the restart"
fusermount3 -u "$TMP/disk"
wait $ATTACH_PID || fail "sealvol-attach did not detach cleanly"
stop_server
sv volume verify acme/fs >/dev/null || fail "verify"

# Two addresses, the second serving another volume under the same names
# (another root: other ids in its export description).  Once the first
# is gone, sealvol-attach refuses the second, says why in one line, and
# reads fail with EIO after the timeout rather than from the wrong volume.
R2=$TMP/root2
"$SEALVOL" --root "$R2" tenant create acme >/dev/null
"$SEALVOL" --root "$R2" volume create acme/fs --size 256M >/dev/null
nbdkit -f -U "$TMP/other.sock" "$SEALVOL_PLUGIN" root="$R2" tenant=acme \
    2>"$TMP/other.log" &
other=$!
cleanup_fn "end_process $other"
start_server acme io=$IO
start_attach "$TMP/two" "$(uri fs)" "nbd+unix:///fs?socket=$TMP/other.sock" --timeout 3
stop_server KILL
dd if="$TMP/two" of=/dev/null bs=4k count=1 iflag=direct status=none 2>"$TMP/dd.err" &&
    fail "read through a server serving another volume"
grep -q "Input/output error" "$TMP/dd.err" || fail "read: $(cat "$TMP/dd.err")"
[ "$(grep -c "refusing nbd+unix:///fs?socket=$TMP/other.sock: export 'fs' described 'sealvol volume acme/fs id [0-9a-f:]*', not 'fs' described 'sealvol volume acme/fs id" "$TMP/two.log")" = 1 ] ||
    fail "no one-line refusal: $(cat "$TMP/two.log")"
fusermount3 -u "$TMP/two"
wait $ATTACH_PID || fail "sealvol-attach did not detach cleanly"
echo "attach: survived a server restart ($n connections reconnected), $(wc -l < "$TMP/sums") files verified"
