# Sourced by the CSI controller tests (tests/test-csi-sanity.sh, ...): a
# live storage host on 127.0.0.1 for tenant acme (the control API over
# TLS, the tenant's nbdkit over TLS with client certificates), and
# sealvol-csi-controller + sealvol-csi-node on sockets of their own.
#
#   start_storage_host NAME [TENANT...]
#                                 root $TMP/NAME, the API and one nbdkit per
#                                 tenant (default: acme); sets API_PORT[NAME],
#                                 NBD_PORT[NAME] and TOKEN[NAME] (acme's),
#                                 NBD_PORT[NAME/TENANT], TOKEN[NAME/TENANT],
#                                 and writes the controller's own token (the
#                                 first tenant's) to $TMP/NAME.token
#   host_section NAME             its [host NAME] section of the config
#   start_controller CONFIG       CTL_SOCK
#   start_node TOPOLOGY_HOST [ID] NODE_SOCK; with ID, node id ID and a
#                                 socket, state directory and log of its own
#   python_stubs DIR              csi_pb2*.py for Python grpcio, from csi/csi.proto
#
# Everything started, mounted or attached is undone at exit.
requires_fuse_loop
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

# tenant_pki TENANT: acme's certificates are make_pki's ($P/acme, and
# $P/server checks them); any other tenant gets a client CA and
# certificate of its own ($P/TENANT) and a server directory whose client
# CA is that one ($P/server-TENANT), so one tenant's certificate is
# refused by another's nbdkit.
tenant_pki () {
    [ "$1" = acme ] || [ -d "$P/$1" ] && return 0
    certs ca "$P/$1-ca" --cn "$1 client CA"
    certs client "$P/$1-ca" "$P/$1" "$1-client" --server-ca "$P/server-ca/ca-cert.pem"
    certs server "$P/server-ca" "$P/server-$1" 127.0.0.1 localhost \
        --client-ca "$P/$1-ca/ca-cert.pem"
}

start_storage_host () {
    local name=$1 root=$TMP/$1 nbd api tenant certdir
    shift
    [ $# -gt 0 ] || set -- acme
    for tenant in "$@"; do
        tenant_pki "$tenant"
        certdir=$P/server-$tenant
        [ "$tenant" = acme ] && certdir=$P/server
        "$SEALVOL" --root "$root" tenant create "$tenant" >/dev/null
        nbd=$(free_port)
        printf '[serve]\nattach = 127.0.0.1:%s\n' "$nbd" >>"$root/$tenant/tenant.conf"
        background "$TMP/$name-$tenant-nbdkit.log" nbdkit -f -i 127.0.0.1 -p "$nbd" \
            --tls=require --tls-certificates="$certdir" --tls-verify-peer \
            "$SEALVOL_PLUGIN" root="$root" tenant="$tenant" io="$IO"
        wait_port "$nbd" ||
            fail "nbdkit ($name/$tenant) did not start: $(tail -3 "$TMP/$name-$tenant-nbdkit.log")"
        NBD_PORT[$name/$tenant]=$nbd
        TOKEN[$name/$tenant]=$("$SEALVOL" --root "$root" tenant token create "$tenant")
    done
    api=$(free_port)
    background "$TMP/$name-api.log" "$SEALVOL" --root "$root" api serve \
        --listen "127.0.0.1:$api" --tls-certificates "$P/server"
    wait_port "$api" || fail "api serve ($name) did not start: $(tail -3 "$TMP/$name-api.log")"
    "$SEALVOL" --root "$root" tenant token create "$1" >"$TMP/$name.token"
    API_PORT[$name]=$api
    NBD_PORT[$name]=${NBD_PORT[$name/$1]}
    TOKEN[$name]=${TOKEN[$name/acme]:-}
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
    local dir=$TMP/node state=$TMP/state log=$TMP/node.log id=${2:-test-node}
    if [ $# -gt 1 ]; then
        dir=$TMP/node-$2 state=$TMP/state-$2 log=$TMP/node-$2.log
    fi
    NODE_SOCK=$dir/csi.sock
    mkdir -p "$dir"
    background "$log" env CSI_ENDPOINT="unix://$NODE_SOCK" \
        SEALVOL_CSI_STATE_DIR="$state" SEALVOL_CSI_ATTACH=fuse SEALVOL_CSI_TIMEOUT=30 \
        SEALVOL_CSI_NODE_ID="$id" SEALVOL_TOPOLOGY_HOST="$1" "$CSI_NODE"
    wait_socket "$NODE_SOCK" "$log"
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
