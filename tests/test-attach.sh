#!/bin/bash
# Node side (issue 6, first part): sealvol-attach exposes a volume as a
# FUSE file; ext4 on a loop device over it; the storage server is killed
# and restarted while a writer fsyncs files, and the writer sees no error
# (requests wait and reconnect); every file verifies after a remount, and
# the volume verifies.  Needs root, /dev/fuse and loop devices.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires test "$(id -u)" = 0
requires test -c /dev/fuse
requires losetup --version
requires fusermount3 -V
ATTACH=$top_builddir/sealvol-attach

sv tenant create acme >/dev/null
sv volume create acme/fs --size 256M --service-type unlimited >/dev/null
start_server acme io=$IO
touch "$TMP/disk"
"$ATTACH" --timeout 30 "$(uri fs)" "$TMP/disk" 2>"$TMP/attach.log" &
attach_pid=$!
cleanup_fn "fusermount3 -u $TMP/disk 2>/dev/null; kill $attach_pid 2>/dev/null"
for _ in $(seq 50); do [ "$(stat -c %s "$TMP/disk")" = 268435456 ] && break; sleep 0.1; done
[ "$(stat -c %s "$TMP/disk")" = 268435456 ] || fail "the FUSE file did not appear"
loop=$(losetup -f --show "$TMP/disk")
cleanup_fn "losetup -d $loop 2>/dev/null"
mkfs.ext4 -q "$loop"
mkdir "$TMP/mnt"
mount "$loop" "$TMP/mnt"
cleanup_fn "umount $TMP/mnt 2>/dev/null"

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
grep -q "reconnecting" "$TMP/attach.log" || fail "no reconnect happened"

umount "$TMP/mnt"
mount -o ro "$loop" "$TMP/mnt"
(cd "$TMP/mnt" && md5sum -c --quiet "$TMP/sums") || fail "files differ after the restart"
umount "$TMP/mnt"
losetup -d "$loop"
fusermount3 -u "$TMP/disk"
wait $attach_pid || fail "sealvol-attach did not detach cleanly"
stop_server
sv volume verify acme/fs >/dev/null || fail "verify"
echo "attach: survived a server restart, $(wc -l < "$TMP/sums") files verified"
