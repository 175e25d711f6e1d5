# Sourced by the CSI controller tests (tests/test-csi-sanity.sh, ...): a
# live storage host on 127.0.0.1 for tenant acme (the control API over
# TLS, the tenant's nbdkit over TLS with client certificates), and
# sealvol-csi-controller + sealvol-csi-node on sockets of their own.
#
#   start_storage_host NAME       root $TMP/NAME, API + nbdkit; sets
#                                 API_PORT[NAME], NBD_PORT[NAME], TOKEN[NAME]
#                                 (the tenant's token) and writes the
#                                 controller's own token to $TMP/NAME.token
#   host_section NAME             its [host NAME] section of the config
#   start_controller CONFIG       CTL_SOCK
#   start_node TOPOLOGY_HOST      NODE_SOCK
#   python_stubs DIR              csi_pb2*.py for Python grpcio, from csi/csi.proto
#
# Everything started, mounted or attached is undone at exit.
requires test "$(id -u)" = 0
requires test -c /dev/fuse
requires fusermount3 -V
requires losetup --version
requires mkfs.ext4 -V
requires certtool --version
requires nbdkit --version
requires curl --version
CSI_NODE=$top_builddir/sealvol-csi-node
CSI_CONTROLLER=$top_builddir/sealvol-csi-controller
[ -x "$CSI_CONTROLLER" ] || fail "$CSI_CONTROLLER is not built"

declare -A API_PORT NBD_PORT TOKEN
SERVICE_PIDS=()

make_pki acme

ctl_cleanup () {
    local mp dev back p
    # Unmount first, while the storage servers still serve what a test
    # left staged (an ext4 flushing into a FUSE file whose server is gone
    # hangs its umount).
    awk -v t="$TMP/" 'index($2, t) == 1 && $3 != "fuse" { print $2 }' /proc/self/mounts | tac |
        while read -r mp; do umount "$(printf %b "$mp")" 2>/dev/null ||
            umount -l "$(printf %b "$mp")" 2>/dev/null || true; done
    [ ${#SERVICE_PIDS[@]} -gt 0 ] && kill "${SERVICE_PIDS[@]}" 2>/dev/null
    awk -v t="$TMP/" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | tac |
        while read -r mp; do umount "$(printf %b "$mp")" 2>/dev/null ||
            umount -l "$(printf %b "$mp")" 2>/dev/null || true; done
    losetup -nl -O NAME,BACK-FILE 2>/dev/null | while read -r dev back; do
        case $back in "$TMP"/*) losetup -d "$dev" 2>/dev/null || true ;; esac
    done
    for p in /proc/[0-9]*; do
        case $(tr '\0' ' ' 2>/dev/null <"$p/cmdline") in
            *sealvol-attach*"$TMP"*) kill "${p#/proc/}" 2>/dev/null || true ;;
        esac
    done
    sleep 0.3
    awk -v t="$TMP/" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | tac |
        while read -r mp; do umount -l "$(printf %b "$mp")" 2>/dev/null || true; done
    [ ${#SERVICE_PIDS[@]} -gt 0 ] && kill -9 "${SERVICE_PIDS[@]}" 2>/dev/null
    return 0
}
cleanup_fn ctl_cleanup

# background LOG COMMAND...: run it, remember its pid in $!.
background () {
    local log=$1
    shift
    "$@" </dev/null >>"$log" 2>&1 &
    SERVICE_PIDS+=($!)
}

start_storage_host () {
    local name=$1 root=$TMP/$1 nbd api
    local s=(env SEALVOL_ROOT= "$SEALVOL" --root "$root")
    "$SEALVOL" --root "$root" tenant create acme >/dev/null
    nbd=$(free_port)
    cat >>"$root/acme/tenant.conf" <<CONF
[serve]
attach = 127.0.0.1:$nbd
CONF
    background "$TMP/$name-nbdkit.log" nbdkit -f -i 127.0.0.1 -p "$nbd" --tls=require \
        --tls-certificates="$P/server" --tls-verify-peer \
        "$SEALVOL_PLUGIN" root="$root" tenant=acme io="$IO"
    wait_port "$nbd" || fail "nbdkit ($name) did not start: $(tail -3 "$TMP/$name-nbdkit.log")"
    api=$(free_port)
    background "$TMP/$name-api.log" "$SEALVOL" --root "$root" api serve \
        --listen "127.0.0.1:$api" --tls-certificates "$P/server"
    wait_port "$api" || fail "api serve ($name) did not start: $(tail -3 "$TMP/$name-api.log")"
    TOKEN[$name]=$("$SEALVOL" --root "$root" tenant token create acme)
    "$SEALVOL" --root "$root" tenant token create acme >"$TMP/$name.token"
    API_PORT[$name]=$api
    NBD_PORT[$name]=$nbd
    : "${s[@]}"
}

host_section () {
    cat <<CONF
[host $1]
api-url = https://127.0.0.1:${API_PORT[$1]}
ca-cert = $P/server-ca/ca-cert.pem
access-token-file = $TMP/$1.token
timeout = 20
connect-timeout = 2
CONF
}

# wait_socket PATH LOG: until PATH is a socket (10 s at most).
wait_socket () {
    for _ in $(seq 100); do
        [ -S "$1" ] && return 0
        sleep 0.1
    done
    fail "no socket $1: $(tail -5 "$2")"
}

start_controller () {
    CTL_SOCK=$TMP/ctl/csi.sock
    mkdir -p "$TMP/ctl"
    background "$TMP/controller.log" env CSI_ENDPOINT="unix://$CTL_SOCK" \
        SEALVOL_LOG_LEVEL=debug "$CSI_CONTROLLER" --config "$1"
    wait_socket "$CTL_SOCK" "$TMP/controller.log"
}

start_node () {
    NODE_SOCK=$TMP/node/csi.sock
    mkdir -p "$TMP/node"
    background "$TMP/node.log" env CSI_ENDPOINT="unix://$NODE_SOCK" \
        SEALVOL_CSI_STATE_DIR="$TMP/state" SEALVOL_CSI_ATTACH=fuse SEALVOL_CSI_TIMEOUT=30 \
        SEALVOL_CSI_NODE_ID=test-node SEALVOL_TOPOLOGY_HOST="$1" "$CSI_NODE"
    wait_socket "$NODE_SOCK" "$TMP/node.log"
}

# yaml_block KEY FILE: "  KEY: |" and FILE's lines indented, for a
# secrets map.
yaml_block () {
    printf '  %s: |\n' "$1"
    sed 's/^/    /' "$2"
}

python_stubs () {
    mkdir -p "$1"
    $PY -m grpc_tools.protoc -I"$top_srcdir/csi" -I/usr/include \
        --python_out="$1" --grpc_python_out="$1" csi.proto ||
        fail "grpc_tools.protoc could not compile csi/csi.proto"
}
