#!/bin/bash
# sealvol CSI provisioning latency: a live storage host on 127.0.0.1
# (the control API over TLS, the tenant's nbdkit over TLS with client
# certificates), sealvol-csi-controller and sealvol-csi-node on unix
# sockets -- all started by tests/csi-controller-setup.sh, as the CSI
# tests start them -- then for each of N volumes, one after another:
# CreateVolume -> NodeStageVolume -> NodePublishVolume, each timed.
# The volumes stay published until all N are, then every one is
# unpublished, unstaged and deleted (also timed), and every server is
# stopped (the EXIT trap of tests/functions.sh: also on failure or ^C).
#
# Prints one line per phase, p50/p99/max in milliseconds:
#   create p50 .. ms p99 .. ms max .. ms | stage ... | publish ... | create->publish p50 ... p99 ... max ...
# and a second line for the teardown.
#
# usage: bench/csi-bench.sh [--count N] [--size MiB] [--access block|ext4]
#                           [--cipher C]
#   --count   volumes (default 100)
#   --size    MiB per volume (default 16)
#   --access  block (default: a raw block device published at the
#             target, no mkfs or mount) or ext4 (mkfs.ext4 at stage,
#             mount + bind mount)
#   --cipher  StorageClass parameter cipher (default aes-256-gcm)
# Root, /dev/fuse, loop devices, nbdkit, Debian's python3-grpcio and
# python3-grpc-tools.  Runs against the build in the source tree (the
# node attaches with SEALVOL_CSI_ATTACH=fuse: FUSE + loop device).
# A benchmark, not a test: not part of make check.

COUNT=100 SIZE_MIB=16 ACCESS=block CIPHER=aes-256-gcm
while [ $# -gt 0 ]; do
    case $1 in
        --count) COUNT=$2; shift 2 ;;
        --size) SIZE_MIB=$2; shift 2 ;;
        --access) ACCESS=$2; shift 2 ;;
        --cipher) CIPHER=$2; shift 2 ;;
        -h|--help) sed -n '2,/^$/{s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "$0: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case $ACCESS in block|ext4) ;; *) echo "$0: --access block or ext4" >&2; exit 2 ;; esac

top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
source "$top_srcdir/tests/functions.sh"
requires $PY -c 'import grpc, grpc_tools'
source "$top_srcdir/tests/csi-controller-setup.sh"
python_stubs "$TMP/py"

start_storage_host a
host_section a >"$TMP/controller.ini"
start_controller "$TMP/controller.ini"
start_node a

status=0
B_TMP=$TMP B_CTL="unix://$CTL_SOCK" B_NODE="unix://$NODE_SOCK" B_PKI=$P \
B_TOKEN=${TOKEN[a]} B_COUNT=$COUNT B_SIZE=$((SIZE_MIB * 1024 * 1024)) \
B_ACCESS=$ACCESS B_CIPHER=$CIPHER $PY - <<'PY' || status=$?
import math, os, sys, time
E = os.environ
TMP = E["B_TMP"]
sys.path.insert(0, os.path.join(TMP, "py"))
import grpc
import csi_pb2 as csi
import csi_pb2_grpc as csi_grpc

AM = csi.VolumeCapability.AccessMode
N, SIZE, ACCESS = int(E["B_COUNT"]), int(E["B_SIZE"]), E["B_ACCESS"]


def channel(ep):
    ch = grpc.insecure_channel(ep)
    grpc.channel_ready_future(ch).result(timeout=30)
    return ch


CTL = csi_grpc.ControllerStub(channel(E["B_CTL"]))
NODE = csi_grpc.NodeStub(channel(E["B_NODE"]))
read = lambda p: open(p).read()
PKI = E["B_PKI"]
TOKEN = {"access-token": E["B_TOKEN"]}
NODE_SECRETS = {"ca-cert": read(os.path.join(PKI, "server-ca", "ca-cert.pem")),
                "client-cert": read(os.path.join(PKI, "acme", "client-cert.pem")),
                "client-key": read(os.path.join(PKI, "acme", "client-key.pem"))}
if ACCESS == "block":
    CAP = csi.VolumeCapability(block=csi.VolumeCapability.BlockVolume(),
                               access_mode=AM(mode=AM.SINGLE_NODE_WRITER))
else:
    CAP = csi.VolumeCapability(mount=csi.VolumeCapability.MountVolume(fs_type="ext4"),
                               access_mode=AM(mode=AM.SINGLE_NODE_WRITER))
PARAMS = {"cipher": E["B_CIPHER"]}
if ACCESS == "ext4":
    PARAMS["csi.storage.k8s.io/fstype"] = "ext4"


def timed(name, req):
    stub = NODE if name.startswith("Node") else CTL
    t = time.perf_counter()
    r = getattr(stub, name)(req, timeout=120)
    return r, (time.perf_counter() - t) * 1000.0


def pct(xs, p):
    s = sorted(xs)
    return s[max(1, math.ceil(p / 100.0 * len(s))) - 1]   # nearest rank


def summary(label, xs):
    return "%s p50 %.1f ms p99 %.1f ms max %.1f ms" % (label, pct(xs, 50), pct(xs, 99), max(xs))


vols = []       # (vid, ctx, staging, target, published?, staged?)
T = {k: [] for k in ("create", "stage", "publish", "total",
                     "unpublish", "unstage", "delete")}
t0 = time.time()
failed = None
try:
    for i in range(N):
        name = "pvc-bench-%04d" % i
        r, tc = timed("CreateVolume", csi.CreateVolumeRequest(
            name=name, capacity_range=csi.CapacityRange(required_bytes=SIZE),
            volume_capabilities=[CAP], parameters=PARAMS, secrets=TOKEN))
        v = {"vid": r.volume.volume_id, "ctx": dict(r.volume.volume_context),
             "staging": os.path.join(TMP, "staging", name),
             "target": os.path.join(TMP, "target", name, "dev" if ACCESS == "block" else "mnt"),
             "staged": False, "published": False}
        vols.append(v)
        os.makedirs(v["staging"])
        os.makedirs(os.path.dirname(v["target"]))
        _, ts = timed("NodeStageVolume", csi.NodeStageVolumeRequest(
            volume_id=v["vid"], staging_target_path=v["staging"], volume_capability=CAP,
            secrets=NODE_SECRETS, volume_context=v["ctx"]))
        v["staged"] = True
        _, tp = timed("NodePublishVolume", csi.NodePublishVolumeRequest(
            volume_id=v["vid"], staging_target_path=v["staging"], target_path=v["target"],
            volume_capability=CAP, volume_context=v["ctx"]))
        v["published"] = True
        for k, x in (("create", tc), ("stage", ts), ("publish", tp), ("total", tc + ts + tp)):
            T[k].append(x)
        if (i + 1) % 10 == 0:
            print("  %d/%d provisioned (%.0f s)" % (i + 1, N, time.time() - t0),
                  file=sys.stderr, flush=True)
except grpc.RpcError as e:
    failed = "volume %d: %s: %s" % (len(vols), e.code().name, e.details())
finally:
    # Always undo everything, newest first, even after a failure.
    undo_err = []
    for v in reversed(vols):
        try:
            if v["published"]:
                _, x = timed("NodeUnpublishVolume", csi.NodeUnpublishVolumeRequest(
                    volume_id=v["vid"], target_path=v["target"]))
                T["unpublish"].append(x)
            if v["staged"]:
                _, x = timed("NodeUnstageVolume", csi.NodeUnstageVolumeRequest(
                    volume_id=v["vid"], staging_target_path=v["staging"]))
                T["unstage"].append(x)
            _, x = timed("DeleteVolume", csi.DeleteVolumeRequest(
                volume_id=v["vid"], secrets=TOKEN))
            T["delete"].append(x)
        except grpc.RpcError as e:
            undo_err.append("%s: %s: %s" % (v["vid"], e.code().name, e.details()))

n = len(T["total"])
if n:
    print("%d volumes, %d MiB, %s, %s: " % (n, SIZE >> 20, ACCESS, E["B_CIPHER"]) +
          " | ".join([summary("create", T["create"]), summary("stage", T["stage"]),
                      summary("publish", T["publish"]),
                      summary("create->publish", T["total"])]))
    print("teardown: " + " | ".join(summary(k, T[k]) for k in ("unpublish", "unstage", "delete")
                                    if T[k]) + " | wall %.0f s" % (time.time() - t0))
if failed:
    print("FAIL: " + failed)
if undo_err:
    print("FAIL: teardown: " + "; ".join(undo_err[:5]))
sys.exit(1 if failed or undo_err else 0)
PY
if [ "$status" != 0 ]; then
    echo "---- controller.log:"; grep -v ControllerGetCapabilities "$TMP/controller.log" | tail -20
    echo "---- node.log:"; tail -20 "$TMP/node.log"
    exit "$status"
fi
