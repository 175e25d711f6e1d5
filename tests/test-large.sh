#!/bin/bash
# A 16 TiB volume on sparse files: created, served, its first and last
# blocks written and read back, metadata under 3 %.  ext4 caps a file at
# 16T-4K, so the root lives on a small xfs filesystem in a loop device.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires test "$(id -u)" = 0
requires mkfs.xfs -V
requires losetup --version
requires $PY -c 'import nbd'

truncate -s 1G "$TMP/xfs.img"
mkfs.xfs -q "$TMP/xfs.img"
mkdir "$TMP/mnt"
mount -o loop "$TMP/xfs.img" "$TMP/mnt" || { echo "SKIP: cannot loop-mount"; exit 77; }
cleanup_fn umount "$TMP/mnt"
ROOT=$TMP/mnt/root

sv tenant create big >/dev/null
sv volume create big/v16 --size 16T >/dev/null
data=$(voldir big v16)/data meta=$(voldir big v16)/meta
[ "$(stat -c %s "$data")" = $((16 << 40)) ] || fail "data file size"
$PY -c "import sys; d, m = $((16 << 40)), $(stat -c %s "$meta"); r = m / d; print('metadata overhead %.2f%%' % (100 * r)); sys.exit(r >= 0.03)" \
    || fail "metadata overhead is not under 3%"

start_server big io=$IO
nbdsh -u "$(uri v16)" \
    -c 'import os; size = h.get_size(); assert size == 16 << 40, size' \
    -c 'a, b = os.urandom(4096), os.urandom(8192)' \
    -c 'h.pwrite(a, 0); h.pwrite(b, size - 8192); h.flush()' \
    -c 'assert h.pread(4096, 0) == a and h.pread(8192, size - 8192) == b' \
    -c 'assert h.pread(4096, 8 << 40) == bytes(4096)' || fail "16T volume I/O"
stop_server
sv volume verify big/v16 | grep -q "0 integrity failures" || fail "verify 16T"
echo "16T volume ok"
