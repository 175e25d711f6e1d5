#!/bin/bash
# Time to an error once the storage server is gone (issue 21), and back.
# sealvol-attach --timeout 4 with a loop device (direct I/O) on its FUSE
# file; a writer does 4 KiB O_DIRECT writes to the loop device, each
# followed by fsync, and logs when each started, ended and how.  The
# server is killed (SIGKILL): the first write gets EIO within the
# timeout (+ slack), and every one after it at once (< 1 s each) instead
# of each waiting a timeout of its own.  Nothing succeeds while the server
# is away.  Then the server comes back and writes succeed again through
# the same loop device, nothing re-attached.  Finally, read from the
# server itself: every write reported done is there, and no write that
# failed while the server was away was written later behind the writer's
# back (those blocks are still zero).  Needs root, /dev/fuse, loop devices.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires_fuse_loop
requires nbdcopy --version

TIMEOUT=4
sv tenant create acme >/dev/null
sv volume create acme/raw --size 64M --service-type unlimited >/dev/null
start_server acme io=$IO
start_attach "$TMP/disk" "$(uri raw)" --timeout $TIMEOUT
LOOP=$(losetup -f --show --direct-io=on "$TMP/disk")
cleanup_fn "detach_loop $LOOP $TMP/disk"

# Block i holds "record i" repeated; one line per write+fsync:
# START END I ok|ERRNO-NAME, times on CLOCK_MONOTONIC.
$PY - "$LOOP" "$TMP/stop" >"$TMP/ops" 2>"$TMP/writer.err" <<'PY' &
import errno, mmap, os, sys, time
dev, stop = sys.argv[1:]
fd = os.open(dev, os.O_RDWR | os.O_DIRECT)
buf = mmap.mmap(-1, 4096)                  # page-aligned, as O_DIRECT wants
i = 0
while not os.path.exists(stop) and i < 16384:
    rec = b"record %d\n" % i
    buf[:] = (rec * (4096 // len(rec) + 1))[:4096]
    t0 = time.monotonic()
    try:
        os.pwrite(fd, buf, i * 4096)
        os.fsync(fd)
        how = "ok"
    except OSError as e:
        how = errno.errorcode.get(e.errno, str(e.errno))
    print("%.3f %.3f %d %s" % (t0, time.monotonic(), i, how), flush=True)
    i += 1
    time.sleep(0.01)
PY
writer=$!
now () { $PY -c 'import time; print("%.3f" % time.monotonic())'; }

sleep 1.5
t_kill=$(now)
kill -KILL "$NBDKIT_PID"                  # the storage host is gone
wait "$NBDKIT_PID" 2>/dev/null || true
sleep $((TIMEOUT + 5))
t_back=$(now)
rm -f "$SOCK"
start_server acme io=$IO                  # ... and comes back
sleep 4
touch "$TMP/stop"
wait $writer || fail "the writer failed: $(cat "$TMP/writer.err")"

# The verdict on the log; prints the blocks to check on the server:
# "ok I" for every write reported done, "zero I" for every one that
# failed while the server was away.
$PY - "$TMP/ops" "$t_kill" "$t_back" "$TIMEOUT" >"$TMP/expect" <<'PY' || fail "$(cat "$TMP/verdict")"
import sys
path, t_kill, t_back, timeout = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
ops = [l.split() for l in open(path)]
ops = [(float(a), float(b), int(i), how) for a, b, i, how in ops]
verdict = open(path.rsplit("/", 1)[0] + "/verdict", "w")
def fail(msg):
    verdict.write(msg + "\n"); sys.exit(1)
errs = [o for o in ops if o[3] != "ok"]
if not errs:
    fail("no write failed while the server was away")
first = errs[0]
if first[1] - t_kill > timeout + 3:
    fail("the first EIO came %.1f s after the kill (timeout %d s)" % (first[1] - t_kill, timeout))
if any(o[3] != "EIO" for o in errs):
    fail("errors other than EIO: %s" % sorted({o[3] for o in errs}))
later = [o for o in errs[1:] if o[0] < t_back]
if len(later) < 3:
    fail("only %d more writes failed before the server came back" % len(later))
slow = [o for o in later if o[1] - o[0] > 1.0]
if slow:
    fail("%d later writes took over 1 s to fail, the slowest %.1f s"
         % (len(slow), max(o[1] - o[0] for o in slow)))
lies = [o for o in ops if o[3] == "ok" and t_kill + 0.5 < o[1] < t_back]
if lies:
    fail("%d writes reported done while the server was away" % len(lies))
after = [o for o in ops if o[0] > t_back]
if not any(o[3] == "ok" for o in after) or after[-1][3] != "ok":
    fail("writes did not succeed again after the server came back")
print("\n".join("ok %d" % o[2] for o in ops if o[3] == "ok"))
print("\n".join("zero %d" % o[2] for o in ops if o[3] != "ok" and o[0] > t_kill + 0.5))
sys.stderr.write("first EIO %.1f s after the kill, then %d more in at most %.2f s each; "
                 "%d writes done after the server came back\n"
                 % (first[1] - t_kill, len(later), max(o[1] - o[0] for o in later),
                    sum(o[3] == "ok" for o in after)))
PY
grep -q "server back: requests go through again" "$TMP/disk.log" ||
    fail "sealvol-attach did not say the server was back: $(tail -3 "$TMP/disk.log")"

losetup -d "$LOOP"
sleep 0.5                                  # the loop device lets go of the file
fusermount3 -u "$TMP/disk"
wait "$ATTACH_PID" || fail "sealvol-attach did not detach cleanly"
nbdcopy "$(uri raw)" "$TMP/readback"
$PY - "$TMP/readback" "$TMP/expect" <<'PY' || fail "read back from the server"
import sys
data = open(sys.argv[1], "rb").read()
bad = []
for line in open(sys.argv[2]):
    what, i = line.split(); i = int(i)
    block = data[i * 4096:(i + 1) * 4096]
    rec = b"record %d\n" % i
    want = (rec * (4096 // len(rec) + 1))[:4096] if what == "ok" else bytes(4096)
    if block != want:
        bad.append("%s %d" % (what, i))
if bad:
    sys.exit("blocks wrong on the server: %s" % " ".join(bad[:5]))
PY
echo "attach-failfast: $(grep -c '^ok' "$TMP/expect") writes done and on the server," \
     "$(grep -c '^zero' "$TMP/expect") failed and not written"
