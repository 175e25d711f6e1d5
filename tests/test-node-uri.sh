#!/bin/bash
# Paths with URI metacharacters on the node side: sealvol-csi-node with a
# state directory, a staging path and a publish target whose names hold
# a space, '?', '#', '&' and a literal "%41".  The secrets' paths reach
# libnbd (the stage probe) and sealvol-attach (its URI) intact, and the
# mount table finds the FUSE file and the mounts at those paths.
#
#  - certificates, block access: stage (the attach program's URI has the
#    state directory percent-encoded), stage again (the same attachment,
#    found in the mount table), publish, 1 MiB written through the
#    target, unpublish (the target gone), unstage (no mount, loop device,
#    attach program or volume directory left), and the data is on the
#    storage server;
#  - PSK (tls-psk-file= in the URI): stage, the device has the volume's
#    size, unstage.
#
# Needs root, /dev/fuse, loop devices, certtool and python3-grpcio.
source "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires_fuse_loop
requires certtool --version
requires nbdkit --version
requires nbdcopy --version
requires $PY -c 'import grpc, grpc_tools'
CSI_NODE=$top_builddir/sealvol-csi-node
[ -x "$CSI_NODE" ] || fail "$CSI_NODE is not built"

ODD=' ?#&%41'
STATE=$TMP/state$ODD
STAGING=$TMP/staging$ODD
TARGET=$TMP/pod$ODD/dev
SOCKET=$TMP/csi.sock
ENDPOINT=unix://$SOCKET
mkdir -p "$STAGING" "$TMP/pod$ODD"

# ------------------------------------------------------------ cleanup

# Mount points under $TMP, the last mounted first, unescaped.
tmp_mounts () {
    awk -v t="$TMP/" 'index($2, t) == 1 { print $2, $3 }' /proc/self/mounts | tac |
        while read -r mp fs; do printf '%b %s\n' "$mp" "$fs"; done
}

# What a failed run may leave: binds, loop devices, FUSE files, programs.
node_cleanup () {
    local line pid
    kill "$CSI_PID" 2>/dev/null || true
    tmp_mounts | while read -r line; do
        [ "${line##* }" = fuse ] || umount -l "${line% *}" 2>/dev/null || true
    done
    losetup -nl -O NAME,BACK-FILE | while read -r line; do
        case ${line#* } in "$TMP"/*) losetup -d "${line%% *}" 2>/dev/null || true ;; esac
    done
    tmp_mounts | while read -r line; do fusermount3 -u "${line% *}" 2>/dev/null || true; done
    for pid in $(attach_pids); do kill "$pid" 2>/dev/null || true; done
}

# sealvol-attach processes started for this test.
attach_pids () {
    local p
    for p in /proc/[0-9]*; do
        case $(tr '\0' ' ' 2>/dev/null <"$p/cmdline") in
            *sealvol-attach*"$TMP"*) echo "${p#/proc/}" ;;
        esac
    done
}

# ------------------------------------------------------------ set-up

make_pki alice
sv tenant create acme >/dev/null
sv volume create acme/v --size 64M --service-type unlimited >/dev/null
sv volume create acme/w --size 16M --service-type unlimited >/dev/null
start_tcp cert --tls=require --tls-certificates="$P/server" --tls-verify-peer \
    -- tenant=acme io="$IO"
start_tcp psk --tls=require --tls-psk="$P/server.psk" -- tenant=acme io="$IO"

CSI_PID=
cleanup_fn node_cleanup
CSI_ENDPOINT=$ENDPOINT SEALVOL_CSI_STATE_DIR=$STATE SEALVOL_CSI_ATTACH=fuse \
    SEALVOL_CSI_TIMEOUT=30 "$CSI_NODE" </dev/null >>"$TMP/csi.log" 2>&1 &
CSI_PID=$!
for _ in $(seq 100); do
    [ -S "$SOCKET" ] && break
    kill -0 "$CSI_PID" 2>/dev/null || fail "the plugin did not start: $(tail -3 "$TMP/csi.log")"
    sleep 0.1
done
[ -S "$SOCKET" ] || fail "the plugin did not create $SOCKET"

# call METHOD: the request (JSON) on stdin, the response in $TMP/resp.
call () {
    $PY "$top_srcdir/scripts/csi-call" "$ENDPOINT" "$1" - >"$TMP/resp" 2>"$TMP/call.err" ||
        fail "$1: $(cat "$TMP/call.err"); plugin log: $(tail -3 "$TMP/csi.log")"
}

# request KIND VOLUME [PORT SECRET-KIND]: a request of KIND (stage,
# unstage, publish, unpublish, stats) for acme/VOLUME, block access.
request () {
    $PY - "$1" "$2" "${3:-}" "${4:-}" "$STAGING" "$TARGET" "$P" <<'PYEOF'
import json, sys
kind, vol, port, secret, staging, target, pki = sys.argv[1:]
cap = {"block": {}, "access_mode": {"mode": "SINGLE_NODE_WRITER"}}
req = {"volume_id": "id-" + vol}
if kind == "stage":
    if secret == "cert":
        secrets = {k: open("%s/acme/%s.pem" % (pki, k)).read()
                   for k in ("ca-cert", "client-cert", "client-key")}
    else:
        secrets = {"psk": open(pki + "/server.psk").read()}
    req.update(staging_target_path=staging, volume_capability=cap, secrets=secrets,
               volume_context={"server": "127.0.0.1:" + port, "tenant": "acme",
                               "volume": vol})
elif kind == "unstage":
    req.update(staging_target_path=staging)
elif kind == "publish":
    req.update(staging_target_path=staging, target_path=target, volume_capability=cap)
elif kind == "unpublish":
    req.update(target_path=target)
elif kind == "stats":
    req.update(volume_path=staging)
print(json.dumps(req))
PYEOF
}

# ------------------------------------------------------------ certificates

request stage v "${PORT[cert]}" cert | call Node.NodeStageVolume
pids=$(attach_pids)
[ "$(echo "$pids" | wc -w)" = 1 ] || fail "stage: attach programs: '$pids'"
tr '\0' '\n' <"/proc/$pids/cmdline" | grep -q '^nbds://.*state%20%3F%23%26%2541/' ||
    fail "stage: the URI does not encode the state directory: $(tr '\0' ' ' <"/proc/$pids/cmdline")"
echo "ok: staged through $STATE; the attach program's URI is percent-encoded"

request stage v "${PORT[cert]}" cert | call Node.NodeStageVolume
[ "$(attach_pids)" = "$pids" ] || fail "stage again: attach programs '$(attach_pids)', was '$pids'"
echo "ok: staged again: the same attachment (its FUSE file found in the mount table)"

request publish v | call Node.NodePublishVolume
head -c 1M /dev/urandom >"$TMP/pattern"
dd if="$TMP/pattern" of="$TARGET" bs=64k oflag=direct conv=notrunc,fsync status=none ||
    fail "writing through $TARGET"
request unpublish v | call Node.NodeUnpublishVolume
[ ! -e "$TARGET" ] || fail "unpublish left $TARGET"
request unstage v | call Node.NodeUnstageVolume
[ -z "$(attach_pids)" ] || fail "unstage left attach programs: $(attach_pids)"
[ -z "$(tmp_mounts)" ] || fail "unstage left mounts: $(tmp_mounts)"
! losetup -nl -O BACK-FILE | grep -qF "$TMP/" || fail "unstage left a loop device"
[ -z "$(ls -A "$STATE")" ] || fail "unstage left $(ls -A "$STATE") in the state directory"
echo "ok: published, written, unpublished and unstaged: nothing left"

nbdcopy "nbds://127.0.0.1:${PORT[cert]}/v?tls-certificates=$P/acme" "$TMP/back"
cmp -s -n 1048576 "$TMP/pattern" "$TMP/back" || fail "the data written is not on the server"
echo "ok: the data is on the storage server"

# ------------------------------------------------------------ PSK

request stage w "${PORT[psk]}" psk | call Node.NodeStageVolume
request stats w | call Node.NodeGetVolumeStats
grep -q '"total": "16777216"' "$TMP/resp" || fail "PSK: stats: $(cat "$TMP/resp")"
request unstage w | call Node.NodeUnstageVolume
[ -z "$(attach_pids)$(tmp_mounts)" ] || fail "PSK: unstage left something"
echo "ok: PSK stage (tls-psk-file= under $STATE) and unstage"
