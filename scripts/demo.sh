#!/bin/bash
# The README's first command: install, build, and run a real end-to-end
# demo on a local storage root (./demo-root): a tenant, one volume per
# cipher served by nbdkit on a Unix socket, a disk image copied in with
# qemu-img and compared back, nbdinfo, then a flipped byte on disk caught
# as an integrity failure.  Then the node side: the same tenant served over
# TLS with client certificates, and the CSI node plugin staging, publishing,
# unpublishing and unstaging a volume for a "pod" (through sealvol-attach
# and a loop device: this machine may have no NBD module).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ]; then
    echo "== installing packages"
    bash scripts/install-deps.sh >/tmp/sealvol-deps.log 2>&1 || { tail -20 /tmp/sealvol-deps.log; exit 1; }
fi
echo "== building"
{ ./autogen.sh && ./configure --enable-gcc-warnings && make -j"$(nproc)"; } >/tmp/sealvol-build.log 2>&1 \
    || { tail -30 /tmp/sealvol-build.log; exit 1; }

root=$PWD/demo-root
work=$(mktemp -d)
sock=$work/nbd.sock
plugin=$PWD/.libs/nbdkit-sealvol-plugin.so
nbdkit_pid=
csi_pid=
cleanup () {
    # Best effort, and the script's own exit status stands: no errexit or
    # pipefail verdicts from here (a grep that finds nothing is fine).
    set +e +o pipefail
    [ -n "$csi_pid" ] && kill "$csi_pid" 2>/dev/null && wait "$csi_pid" 2>/dev/null
    [ -n "$nbdkit_pid" ] && kill "$nbdkit_pid" 2>/dev/null && wait "$nbdkit_pid" 2>/dev/null
    # Anything a failed CSI step left mounted or attached under $work.
    grep -o " $work/[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | xargs -r -n1 umount 2>/dev/null
    losetup -a 2>/dev/null | grep -F "$work" | cut -d: -f1 | xargs -r -n1 losetup -d 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
sv () { ./sealvol --root "$root" "$@"; }
serve () {
    nbdkit -f -U "$sock" "$plugin" root="$root" tenant=demo io=sync 2>"$work/nbdkit.log" &
    nbdkit_pid=$!
    for _ in $(seq 50); do [ -S "$sock" ] && return; sleep 0.1; done
    echo "nbdkit did not start"; cat "$work/nbdkit.log"; exit 1
}
unserve () { kill "$nbdkit_pid" 2>/dev/null; wait "$nbdkit_pid" 2>/dev/null || true; nbdkit_pid=; rm -f "$sock"; }

rm -rf "$root"
echo "== sealvol tenant create demo"
sv tenant create demo
for c in aes-256-gcm xchacha20-poly1305 aes-256-xts; do
    sv volume create "demo/vol-$c" --size 256M --cipher "$c"
done
sv volume list demo

echo "== a 256 MiB disk image: ext4 with files on it (this directory's scripts and 64 MiB of random data)"
mkdir "$work/files"
cp -r scripts "$work/files/"
head -c 64M /dev/urandom >"$work/files/random.bin"
qemu-img create -f raw "$work/disk.img" 256M >/dev/null
mkfs.ext4 -q -F -d "$work/files" "$work/disk.img"

# qemu-img copies only the image's data: a hole goes as one zero request.
# So the rate below is over the data (qemu-img map), not over 256 MiB.
data=$(qemu-img map --output=json -f raw "$work/disk.img" | /usr/bin/python3 -c '
import json, sys
print(sum(e["length"] for e in json.load(sys.stdin) if e["data"] and not e["zero"]))')

serve
echo "== nbdinfo --list"
nbdinfo --list "nbd+unix://?socket=$sock" | grep -E '^export=|export-size'
for c in aes-256-gcm xchacha20-poly1305 aes-256-xts; do
    uri="nbd+unix:///vol-$c?socket=$sock"
    start=$(date +%s.%N)
    qemu-img convert -n -f raw -O raw "$work/disk.img" "$uri"
    end=$(date +%s.%N)
    qemu-img compare -f raw -F raw "$work/disk.img" "$uri" >/dev/null
    awk -v c="$c" -v mib="$data" -v t="$(awk "BEGIN{print $end - $start}")" 'BEGIN {
        mib /= 1048576
        printf "%-20s qemu-img convert: %.1f MiB of data in %.2fs, %.0f MiB/s (the other %.1f MiB are holes, sent as zero requests); qemu-img compare: identical\n",
            c, mib, t, mib / t, 256 - mib }'
done
unserve

echo "== volume info demo/vol-aes-256-gcm"
sv volume info demo/vol-aes-256-gcm
echo "== the data on disk is ciphertext: 'sealvol' strings in the image vs the volume"
printf 'in the image: %s, in the backing file: %s\n' \
    "$(grep -c -a sealvol "$work/disk.img" || true)" \
    "$(grep -c -a sealvol "$root/demo/volumes/vol-aes-256-gcm/data" || true)"

echo "== tamper: flip one byte of block 0 (written by qemu-img) in the backing file"
/usr/bin/python3 - "$root/demo/volumes/vol-aes-256-gcm/data" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(17); b = f.read(1); f.seek(17); f.write(bytes([b[0] ^ 1]))
PY
sv volume verify demo/vol-aes-256-gcm || echo "(verify exit status $?: the flipped block is reported)"
serve
# One request at a time: nbdkit 1.32 can abort when a client hangs up
# with replies still in flight (docs/threat-model.md, upstream issues).
if nbdcopy --connections=1 --requests=1 "nbd+unix:///vol-aes-256-gcm?socket=$sock" \
        "$work/out.img" 2>/dev/null; then
    echo "UNEXPECTED: tampered data was returned"; exit 1
fi
echo "nbdcopy refused: the server logged"
grep "integrity failure" "$work/nbdkit.log" | head -1
unserve

if [ "$(id -u)" != 0 ] || [ ! -c /dev/fuse ]; then
    echo "== node side skipped: it needs root and /dev/fuse"
    echo "== demo finished; the storage root is $root"
    exit 0
fi
echo "== node side: certificates, and nbdkit over TLS requiring client certificates"
pki=$work/pki
certs () { bash scripts/sealvol-certs "$@" >/dev/null; }
certs ca "$pki/ca" && certs ca "$pki/client-ca"
certs server "$pki/ca" "$pki/server" 127.0.0.1 localhost --client-ca "$pki/client-ca/ca-cert.pem"
certs client "$pki/client-ca" "$pki/node" node-1 --server-ca "$pki/ca/ca-cert.pem"
sv volume create demo/pvc-1 --size 256M
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nbdkit -f -i 127.0.0.1 -p "$port" --tls=require --tls-certificates="$pki/server" --tls-verify-peer \
    "$plugin" root="$root" tenant=demo 2>"$work/nbdkit.log" &
nbdkit_pid=$!
sleep 1
echo "== sealvol-csi-node on unix://$work/csi.sock"
CSI_ENDPOINT=unix://$work/csi.sock SEALVOL_CSI_STATE_DIR=$work/csi-state SEALVOL_CSI_ATTACH=fuse \
    ./sealvol-csi-node 2>"$work/csi.log" &
csi_pid=$!
for _ in $(seq 50); do [ -S "$work/csi.sock" ] && break; sleep 0.1; done
csi () { scripts/csi-call "unix://$work/csi.sock" "$@"; }
csi Identity.GetPluginInfo
# The request the kubelet would send, secrets included: built from the PEM
# files and passed on stdin, never on a command line.
stage_request () {
    /usr/bin/python3 - "$pki" "$port" "$work/staging" <<'PY'
import json, sys
pki, port, staging = sys.argv[1:]
read = lambda p: open(pki + p).read()
print(json.dumps({
    "volumeId": "pvc-1", "stagingTargetPath": staging,
    "volumeCapability": {"mount": {"fsType": "ext4"}, "accessMode": {"mode": "SINGLE_NODE_WRITER"}},
    "volumeContext": {"server": "127.0.0.1:" + port, "tenant": "demo", "volume": "pvc-1"},
    "secrets": {"ca-cert": read("/ca/ca-cert.pem"), "client-cert": read("/node/client-cert.pem"),
                "client-key": read("/node/client-key.pem")}}))
PY
}
publish='{"volumeId":"pvc-1","stagingTargetPath":"'$work/staging'","targetPath":"'$work/pod/volume'",
          "volumeCapability":{"mount":{"fsType":"ext4"},"accessMode":{"mode":"SINGLE_NODE_WRITER"}}}'
mkdir -p "$work/staging" "$work/pod"
echo "== NodeStageVolume (attach, mkfs.ext4 on the blank volume, mount) and NodePublishVolume"
stage_request | csi Node.NodeStageVolume -
csi Node.NodePublishVolume "$publish"
findmnt -n -o TARGET,SOURCE,FSTYPE "$work/staging"
cp -r scripts "$work/pod/volume/"
sync
csi Node.NodeGetVolumeStats '{"volumeId":"pvc-1","volumePath":"'$work/pod/volume'"}'
echo "== NodeUnpublishVolume, NodeUnstageVolume, then stage and publish again"
csi Node.NodeUnpublishVolume '{"volumeId":"pvc-1","targetPath":"'$work/pod/volume'"}'
csi Node.NodeUnstageVolume '{"volumeId":"pvc-1","stagingTargetPath":"'$work/staging'"}'
stage_request | csi Node.NodeStageVolume -
csi Node.NodePublishVolume "$publish"
diff -r scripts "$work/pod/volume/scripts" && echo "the files written before the unstage are intact"
csi Node.NodeUnpublishVolume '{"volumeId":"pvc-1","targetPath":"'$work/pod/volume'"}'
csi Node.NodeUnstageVolume '{"volumeId":"pvc-1","stagingTargetPath":"'$work/staging'"}'
echo "the plugin's log (no secret in it):"
sed 's/^/    /' "$work/csi.log"
echo "== demo finished; the storage root is $root"
