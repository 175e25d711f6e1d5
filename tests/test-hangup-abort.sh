#!/bin/bash
# nbdkit 1.32.5 aborts (raw_send_socket: Assertion
# `sock >= 0') when a client hangs up with replies in flight; fixed
# upstream in nbdkit 1.33.10 (commit 9d82aa4f).  Until Debian ships that,
# systemd restarts the server (deploy/host/sealvol@.service) and sealvol-attach
# reconnects.  This test plays both parts: a supervisor loop restarts
# nbdkit on the same socket whenever it exits, as the unit's Restart=always
# does, while ext4 on sealvol-attach (FUSE file, loop device) is written
# and fsynced, and a raw client sends 64 reads and hangs up, 20 times.
# The test also SIGKILLs nbdkit itself 3 times, so that the reconnect path
# runs even where the attack does not abort nbdkit.  Asserts: after every
# round and every kill the writer completes more files; the writer saw no
# error; every file's checksum matches after a remount; the volume
# verifies.  Prints how often nbdkit aborted.  Needs root, /dev/fuse and
# loop devices.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires_fuse_loop
requires mkfs.ext4 -V
# An attack round is HANGUPS connections one after another, each sending
# 64 reads of 64 KiB and hanging up: here one connection alone took
# nbdkit down about one time in 40.
ROUNDS=20
HANGUPS=10
KILL_AT="5 10 15"

sv tenant create acme >/dev/null
sv volume create acme/fs --size 256M --service-type unlimited >/dev/null
sv volume create acme/bait --size 16M --service-type unlimited >/dev/null
SOCK=$TMP/nbd.sock
PIDFILE=$TMP/nbdkit.pid

# systemd's part: start nbdkit, and when it exits for any reason start it
# again on the same socket after 0.2 s (the unit's RestartSec), until
# $TMP/stop exists.  Each exit status goes to $TMP/exits.  A dead nbdkit
# leaves its socket behind, which the next one could not bind.
supervise () {
    local status
    while [ ! -e "$TMP/stop" ]; do
        rm -f "$SOCK" "$PIDFILE"
        nbdkit -f -U "$SOCK" -P "$PIDFILE" "$SEALVOL_PLUGIN" \
            root="$ROOT" tenant=acme io=$IO 2>>"$TMP/nbdkit.log" &
        echo $! >"$TMP/server"
        status=0
        wait $! || status=$?
        echo "$status" >>"$TMP/exits"
        sleep 0.2
    done
}
touch "$TMP/exits"
supervise &
supervisor=$!
cleanup_fn "touch $TMP/stop; kill $supervisor 2>/dev/null; wait $supervisor 2>/dev/null;
            kill \$(cat $TMP/server) 2>/dev/null"

# Alive and not yet reaped by the supervisor (kill -0 passes on a zombie).
running () {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${state:0:1}" != Z ]
}

# Until the current nbdkit listens (10 s at most).
wait_serving () {
    for _ in $(seq 100); do
        [ -S "$SOCK" ] && [ -s "$PIDFILE" ] && running "$(cat "$PIDFILE")" &&
            return 0
        sleep 0.1
    done
    fail "nbdkit was not restarted: $(tail -3 "$TMP/nbdkit.log")"
}

wait_serving
start_attach "$TMP/disk" "nbd+unix:///fs?socket=$SOCK" --timeout 30
loop_ext4 "$TMP/disk"

start_writer
wait_writer_progress 60 "the start"

killed=0
for round in $(seq $ROUNDS); do
    wait_serving
    $PY "$top_srcdir/tests/nbd-hangup-flood.py" "$SOCK" bait $HANGUPS 64 65536
    if [[ " $KILL_AT " == *" $round "* ]]; then
        sleep 0.3
        wait_serving
        kill -KILL "$(cat "$PIDFILE")"
        killed=$((killed + 1))
    fi
    sleep 0.3
    wait_serving
    wait_writer_progress 60 "attack round $round"
done
stop_writer

# Every exit but the test's own SIGKILLs (status 137) was a death under
# the attack: 134 is SIGABRT, the assertion.  (A SIGKILL can find nbdkit
# already aborting; then it counts as a death.)
kills=$(grep -cx 137 "$TMP/exits" || true)
deaths=$(( $(wc -l <"$TMP/exits") - kills ))
[ $((deaths + kills)) -ge "$killed" ] || fail "$killed SIGKILLs, but $((deaths + kills)) restarts"
statuses=$(grep -vx 137 "$TMP/exits" | sort | uniq -c | awk '{ printf " %s x%s", $2, $1 }')
n=$(grep -c ": reconnected" "$TMP/disk.log" || true)
[ "$n" -ge "$kills" ] || fail "$kills kills but $n reconnects: $(tail -3 "$TMP/disk.log")"

remount_check "$TMP/sums" "after $((deaths + kills)) server restarts"
fusermount3 -u "$TMP/disk"
wait $ATTACH_PID || fail "sealvol-attach did not detach cleanly"
touch "$TMP/stop"
kill "$(cat "$TMP/server")"
wait $supervisor
sv volume verify acme/fs >/dev/null || fail "verify acme/fs"
echo "hangup-abort: $ROUNDS attack rounds: nbdkit died $deaths times (exit status${statuses:- -})," \
     "killed by the test $kills times; the writer saw no error," \
     "$n reconnects; $(wc -l <"$TMP/done") files written, the last" \
     "$(wc -l <"$TMP/sums") verified"
