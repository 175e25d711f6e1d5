#!/bin/bash
# The CSI node plugin's tests, run by tests/test-csi-*.sh: sets up what
# every group of checks needs and runs tests/csi_test.py with the groups
# CSI_TEST_CHECKS names (default: all of them, "full"; see csi_test.py for
# the groups and their checks).  sealvol-csi-node is driven by a real
# gRPC client, Python grpcio with stubs generated from csi/csi.proto,
# against live TLS storage servers (nbdkit + the sealvol plugin on
# 127.0.0.1): an x509 server with client certificates, a PSK server, five
# volumes of tenant acme.  The plugin refuses to start without a unix://
# CSI_ENDPOINT (checked on every run).  At the end every volume verifies.
#
# CSI_TEST_ATTACH=nbd (tests/test-csi-nbd.sh): the kernel nbd-client path,
# with its groups only ("nbd").
#
# Needs root, /dev/fuse (or /dev/nbd0), loop devices, mkfs.ext4/xfs.
# Everything it mounts, attaches or starts is undone at exit, pass or fail.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
ATTACH_MODE=${CSI_TEST_ATTACH:-fuse}
requires test "$(id -u)" = 0
if [ "$ATTACH_MODE" = fuse ]; then
    requires test -c /dev/fuse
    requires fusermount3 -V
else
    requires test -b /dev/nbd0
    requires command -v nbd-client
fi
requires losetup --version
requires mkfs.ext4 -V
requires mkfs.xfs -V
requires command -v resize2fs
requires command -v xfs_growfs
requires certtool --version
requires nbdkit --version
requires $PY -c 'import grpc, grpc_tools, nbd'
if [[ " ${CSI_TEST_CHECKS:-full} " == *" attacks "* ]]; then
    requires gcc --version              # builds the setuid program
    requires setpriv --version          # runs it as nobody
fi
CSI_NODE=$top_builddir/sealvol-csi-node
[ -x "$CSI_NODE" ] || fail "$CSI_NODE is not built"

RUN=$TMP/run            # NAME.argv NAME.pid NAME.logpath [NAME.ready]
                        # (csi2.pid: a second plugin csi_test.py starts)
P=$TMP/pki
mkdir -p "$RUN" "$P" "$TMP/csi" "$TMP/py"

# ------------------------------------------------------------ cleanup

# alive PID: running (not gone, not a zombie).
alive () {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    [ "${s:0:1}" != Z ]
}

# stop_pids PID...: SIGTERM, then SIGKILL after 5 s.
stop_pids () {
    local pid
    [ $# -gt 0 ] || return 0
    kill "$@" 2>/dev/null || true
    for pid in "$@"; do
        for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
}

# stop_run NAME...: stop what $RUN/NAME.pid names (csi_test.py rewrites
# the file when it restarts a process).
stop_run () {
    local name
    for name in "$@"; do
        [ -s "$RUN/$name.pid" ] && stop_pids "$(cat "$RUN/$name.pid")"
    done
    return 0
}

# tmp_procs NAME...: pids of the processes called NAME whose command
# line mentions $TMP.
tmp_procs () {
    local p cmd want
    for p in /proc/[0-9]*; do
        cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
        case $cmd in *"$TMP"*) ;; *) continue ;; esac
        for want in "$@"; do
            case ${cmd%% *} in
                "$want"|*/"$want"|*/lt-"$want") echo "${p#/proc/}"; break ;;
            esac
        done
    done
}

# MOUNTPOINT FSTYPE of every mount under $TMP, the last mounted first
# (the mount point as /proc/self/mounts has it: octal escapes for
# spaces; unescape with printf %b).
tmp_mounts () {
    awk -v t="$TMP/" 'index($2, t) == 1 { print $2, $3 }' /proc/self/mounts | tac
}

csi_cleanup () {
    local mp fs dev back pid
    stop_run csi csi2                           # they start nothing more
    tmp_mounts | while read -r mp fs; do
        mp=$(printf %b "$mp")
        case $fs in
            fuse*) ;;
            *) umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true ;;
        esac
    done
    losetup -nl -O NAME,BACK-FILE 2>/dev/null | while read -r dev back; do
        case $back in "$TMP"/*) losetup -d "$dev" 2>/dev/null || true ;; esac
    done
    for pid in $(tmp_procs nbd-client); do
        for dev in $(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep '^/dev/nbd[0-9]*$'); do
            nbd-client -d "$dev" >/dev/null 2>&1 || true
        done
    done
    tmp_mounts | while read -r mp fs; do
        mp=$(printf %b "$mp")
        case $fs in
            fuse*) fusermount3 -u "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true ;;
        esac
    done
    # nbdkit: a server csi_test.py started itself
    # shellcheck disable=SC2046
    stop_pids $(tmp_procs sealvol-attach nbd-client nbdkit)
    stop_run storage psk
    return 0
}
cleanup_fn csi_cleanup

# ------------------------------------------------------------ processes

# launch NAME LOG COMMAND...: run COMMAND in the background, output
# appended to LOG; record its command line for restarts by csi_test.py.
launch () {
    local name=$1 log=$2
    shift 2
    printf '%s\0' "$@" >"$RUN/$name.argv"
    printf '%s\n' "$log" >"$RUN/$name.logpath"
    # In a subshell, so that the shell does not report it as a killed
    # job when csi_test.py kills it.
    ( "$@" </dev/null >>"$log" 2>&1 & echo $! >"$RUN/$name.pid" )
}

# start_storage NAME NBDKIT-OPTIONS...: serve tenant acme on 127.0.0.1 at
# a free port, which goes in PORT_<NAME>.  Ready once nbdkit wrote its
# pid file $RUN/NAME.ready.  (Not functions.sh's start_tcp: csi_test.py
# must be able to kill this server and start it again on the same port.)
start_storage () {
    local name=$1 port pid attempt log=$TMP/$1.log
    shift
    for attempt in 1 2 3; do
        port=$(free_port)
        rm -f "$RUN/$name.ready"
        launch "$name" "$log" nbdkit -f -i 127.0.0.1 -p "$port" -P "$RUN/$name.ready" \
            "$@" "$SEALVOL_PLUGIN" root="$ROOT" tenant=acme io="$IO"
        pid=$(cat "$RUN/$name.pid")
        for _ in $(seq 100); do
            if [ -s "$RUN/$name.ready" ]; then
                printf -v "PORT_$name" %s "$port"
                return 0
            fi
            alive "$pid" || break
            sleep 0.1
        done
        alive "$pid" && fail "nbdkit ($name) wrote no pid file"
        sleep 0.2       # a dying server's last words reach its log
        # A port another test took between free_port and the bind is
        # worth another try; so is a server that left without a word
        # (seen twice under CI load, never reproduced; the try is logged).
        if grep -q "Address already in use" "$log" || [ ! -s "$log" ]; then
            echo "nbdkit ($name) exited at start on port $port (try $attempt, pid $pid): $(tail -3 "$log")"
            continue
        fi
        fail "nbdkit ($name) did not start (try $attempt): $(tail -3 "$log")"
    done
    fail "nbdkit ($name): no free port after 3 tries"
}

# ------------------------------------------------------------ certificates

make_pki acme
certs ca "$P/rogue-ca" --cn "rogue CA"

# ------------------------------------------------------------ volumes

sv tenant create acme >/dev/null
for spec in v1:256M vx:320M vb:64M vp:64M blank:64M; do
    sv volume create "acme/${spec%%:*}" --size "${spec#*:}" --service-type unlimited >/dev/null
done

# ------------------------------------------------------------ servers

start_storage storage --tls=require --tls-certificates="$P/server" --tls-verify-peer
if [ "$ATTACH_MODE" = fuse ]; then
    start_storage psk --tls=require --tls-psk="$P/server.psk"
    PSK_SERVER=127.0.0.1:$PORT_psk
    USED="v1 vx vb vp blank"
    CHECKS=${CSI_TEST_CHECKS:-full}
else
    PSK_SERVER=                 # nbd-client has no PSK support
    USED="v1 vb"
    CHECKS=nbd
fi
echo "groups: $CHECKS ($ATTACH_MODE)"

# The plugin refuses to start without a proper endpoint.
status=0
env -u CSI_ENDPOINT SEALVOL_CSI_STATE_DIR="$TMP/state" timeout 10 "$CSI_NODE" \
    >"$TMP/out" 2>&1 || status=$?
[ "$status" = 2 ] || fail "without CSI_ENDPOINT the plugin exited $status, want 2: $(cat "$TMP/out")"
status=0
CSI_ENDPOINT=tcp://127.0.0.1:1 SEALVOL_CSI_STATE_DIR="$TMP/state" timeout 10 "$CSI_NODE" \
    >"$TMP/out" 2>&1 || status=$?
[ "$status" != 0 ] && [ "$status" != 124 ] ||
    fail "with CSI_ENDPOINT=tcp://... the plugin exited $status: $(cat "$TMP/out")"
echo "ok: the plugin exits at once without a unix:// CSI_ENDPOINT"

SOCKET=$TMP/csi/csi.sock
launch csi "$TMP/csi.log" env CSI_ENDPOINT="unix://$SOCKET" \
    SEALVOL_CSI_STATE_DIR="$TMP/state" SEALVOL_CSI_ATTACH="$ATTACH_MODE" \
    SEALVOL_CSI_TIMEOUT=30 SEALVOL_CSI_NODE_ID=test-node "$CSI_NODE"
for _ in $(seq 100); do
    [ -S "$SOCKET" ] && break
    alive "$(cat "$RUN/csi.pid")" || fail "the plugin did not start: $(tail -5 "$TMP/csi.log")"
    sleep 0.1
done
[ -S "$SOCKET" ] || fail "the plugin did not create $SOCKET"
[ "$(ls -A "$TMP/csi")" = csi.sock ] ||
    fail "the plugin made files next to its socket: $(ls -A "$TMP/csi")"

# ------------------------------------------------------------ the checks

$PY -m grpc_tools.protoc -I"$top_srcdir/csi" -I/usr/include \
    --python_out="$TMP/py" --grpc_python_out="$TMP/py" csi.proto ||
    fail "grpc_tools.protoc could not compile csi/csi.proto"

status=0
CSI_ENDPOINT="unix://$SOCKET" CSI_TEST_TMP=$TMP CSI_TEST_STATE=$TMP/state \
CSI_TEST_LOG=$TMP/csi.log CSI_TEST_RUN=$RUN CSI_TEST_PKI=$P \
CSI_TEST_SERVER=127.0.0.1:$PORT_storage CSI_TEST_PSK_SERVER=$PSK_SERVER \
CSI_TEST_NODE_ID=test-node CSI_TEST_ATTACH=$ATTACH_MODE SEALVOL=$SEALVOL SEALVOL_ROOT=$ROOT \
    $PY "$top_srcdir/tests/csi_test.py" $CHECKS || status=$?
if [ "$status" != 0 ]; then
    for log in storage psk; do
        [ -s "$TMP/$log.log" ] || continue
        echo "---- last lines of $log.log:"
        tail -5 "$TMP/$log.log"
    done
    fail "csi_test.py $CHECKS failed"
fi

# Nothing is attached any more: the storage side verifies every volume.
csi_cleanup
for v in $USED; do
    sv volume verify "acme/$v" >/dev/null || fail "sealvol volume verify acme/$v"
done
echo "ok: sealvol volume verify: $USED"
echo "$0: all CSI checks passed ($ATTACH_MODE)"
