#!/usr/bin/python3
# The checks of tests/test-csi-e2e.sh and tests/test-csi-hosts.sh: a real
# gRPC client (Debian's grpcio, stubs the shell generates from
# csi/csi.proto into $E2E_TMP/py) drives sealvol-csi-controller (and for
# "e2e" sealvol-csi-node) against live storage hosts on 127.0.0.1 that
# tests/csi-controller-setup.sh started.
#
#   csi_e2e.py e2e     CreateVolume for each cipher x service type, the
#                      node lifecycle, ControllerExpandVolume +
#                      NodeExpandVolume, DeleteVolume, crypto-erase
#   csi_e2e.py hosts   placement over two hosts (topology, capacity, a
#                      full host, a host that is down), GetCapacity
#
# Environment (set by the shell):
#   E2E_TMP            scratch directory; E2E_CTL, E2E_NODE: unix:// endpoints
#   E2E_PKI            certificates (server-ca/, acme/)
#   E2E_HOSTS          "NAME=ROOT=TOKEN ..." the storage hosts
#   E2E_API_PID_b      (hosts) pid of host b's API server, stopped at the end
#   E2E_EXPAND         (e2e) "all" or CIPHER/TYPE: which volumes go through
#                      the expansion
#   SEALVOL            the CLI
# One line per check; the first failure prints FAIL and exits 1.
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time

E = os.environ
TMP = E["E2E_TMP"]
PKI = E["E2E_PKI"]
SEALVOL = E["SEALVOL"]
HOSTS = {}
for h in E["E2E_HOSTS"].split():
    n, root, tok = h.split("=", 2)
    HOSTS[n] = {"root": root, "token": tok}

sys.path.insert(0, os.path.join(TMP, "py"))
import grpc                     # noqa: E402
import csi_pb2 as csi           # noqa: E402
import csi_pb2_grpc as csi_grpc  # noqa: E402

MiB = 1024 * 1024
C = grpc.StatusCode
AM = csi.VolumeCapability.AccessMode
TOPO_KEY = "topology.sealvol.org/host"
CIPHERS = ["aes-256-gcm", "xchacha20-poly1305", "aes-256-xts"]
TYPES = ["gp", "piops"]


def has_cap_sys_resource():
    for line in open("/proc/self/status"):
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << 24))
    return False


# The kernel grows a mounted ext4 only with CAP_SYS_RESOURCE; without it
# the volumes are xfs (which xfs_growfs grows; 300 MiB at least).
FS, SIZE, GROWN = ("ext4", 32 * MiB, 64 * MiB) if has_cap_sys_resource() \
    else ("xfs", 320 * MiB, 384 * MiB)


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)


def channel(endpoint):
    ch = grpc.insecure_channel(endpoint)
    try:
        grpc.channel_ready_future(ch).result(timeout=30)
    except grpc.FutureTimeoutError:
        fail("could not connect to " + endpoint)
    return ch


CTL = csi_grpc.ControllerStub(channel(E["E2E_CTL"]))
NODE = csi_grpc.NodeStub(channel(E["E2E_NODE"])) if E.get("E2E_NODE") else None


def rpc(name, req, timeout=120, stub=None):
    if stub is None:
        stub = NODE if name.startswith("Node") else CTL
    try:
        return C.OK, getattr(stub, name)(req, timeout=timeout), None
    except grpc.RpcError as e:
        return e.code(), None, e


def call_ok(label, name, req, timeout=120, stub=None):
    code, resp, err = rpc(name, req, timeout, stub)
    check(code == C.OK, "%s: %s: %s (%s)" % (label, name, code.name,
                                             err.details() if err else ""))
    return resp


def expect(label, want, name, req, timeout=120, stub=None):
    code, _, err = rpc(name, req, timeout, stub)
    check(code == want, "%s: %s answered %s (%s), wanted %s"
          % (label, name, code.name, err.details() if err else "", want.name))
    ok("%s: %s" % (label, want.name))
    return err


def read(path):
    with open(path) as f:
        return f.read()


def token_secrets(host="a"):
    return {"access-token": HOSTS[host]["token"]}


def node_secrets():
    return {"ca-cert": read(os.path.join(PKI, "server-ca", "ca-cert.pem")),
            "client-cert": read(os.path.join(PKI, "acme", "client-cert.pem")),
            "client-key": read(os.path.join(PKI, "acme", "client-key.pem"))}


def mount_cap(fs="ext4"):
    return csi.VolumeCapability(mount=csi.VolumeCapability.MountVolume(fs_type=fs),
                                access_mode=AM(mode=AM.SINGLE_NODE_WRITER))


def topo(host):
    return csi.Topology(segments={TOPO_KEY: host})


def create_req(name, size, params, secrets, requisite=(), preferred=()):
    req = csi.CreateVolumeRequest(
        name=name, capacity_range=csi.CapacityRange(required_bytes=size),
        volume_capabilities=[mount_cap()], parameters=params, secrets=secrets)
    if requisite or preferred:
        req.accessibility_requirements.CopyFrom(csi.TopologyRequirement(
            requisite=[topo(h) for h in requisite], preferred=[topo(h) for h in preferred]))
    return req


def delete(vid, host):
    call_ok("DeleteVolume " + vid, "DeleteVolume",
            csi.DeleteVolumeRequest(volume_id=vid, secrets=token_secrets(host)))


def placed_on(vol):
    hosts = [t.segments.get(TOPO_KEY) for t in vol.accessible_topology]
    return hosts[0] if len(hosts) == 1 else hosts


def sv(root, *args):
    return subprocess.run([SEALVOL, "--root", root] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def fs_bytes(path):
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize


def is_mounted(path):
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == path for line in f)


# ------------------------------------------------------------------ e2e


def read_head(root, volume):
    """The first 4 KiB of acme/VOLUME as a server of its own serves it."""
    sock = os.path.join(TMP, "head.sock")
    pidf = os.path.join(TMP, "head.pid")
    for f in (sock, pidf):
        if os.path.exists(f):
            os.unlink(f)
    p = subprocess.Popen(["nbdkit", "-f", "-U", sock, "-P", pidf, E["SEALVOL_PLUGIN"],
                          "root=" + root, "tenant=acme"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(pidf) and os.path.getsize(pidf):
                break
            time.sleep(0.1)
        import nbd
        h = nbd.NBD()
        h.set_export_name(volume)
        h.connect_unix(sock)
        data = h.pread(4096, 0)
        h.shutdown()
        return data
    finally:
        p.terminate()
        p.wait(10)


def has_fs_magic(head):
    return head[:4] == b"XFSB" if FS == "xfs" else head[1080:1082] == b"\x53\xef"



def lifecycle(cipher, stype, expand):
    label = "%s/%s" % (cipher, stype)
    name = "pvc-e2e-%s-%s" % (cipher, stype)
    size = SIZE
    r = call_ok("CreateVolume " + label, "CreateVolume",
                create_req(name, size, {"cipher": cipher, "serviceType": stype,
                                        "csi.storage.k8s.io/fstype": FS},
                           token_secrets()))
    vol = r.volume
    ctx = dict(vol.volume_context)
    vid = vol.volume_id
    check(vol.capacity_bytes == size, "%s: capacity_bytes %d" % (label, vol.capacity_bytes))
    check(placed_on(vol) == "a", "%s: accessible_topology %s" % (label, vol.accessible_topology))
    check(vid == "a/acme/" + ctx["volume"], "%s: volume id %r, context %r" % (label, vid, ctx))
    root = HOSTS["a"]["root"]
    vdir = os.path.join(root, "acme", "volumes", ctx["volume"])
    check(os.path.isdir(vdir), "%s: no %s" % (label, vdir))
    info = sv(root, "volume", "info", "acme/" + ctx["volume"])
    check(info.returncode == 0, "%s: volume info: %s" % (label, info.stderr))
    fields = dict(line.split(None, 1) for line in info.stdout.splitlines() if " " in line)
    check(fields.get("cipher", "").strip() == cipher and
          fields.get("service_type", "").strip() == stype,
          "%s: the host has cipher %r, service type %r" % (label, fields.get("cipher"),
                                                           fields.get("service_type")))
    ok("CreateVolume %s: %s, %d bytes, on host a, cipher and service type as asked"
       % (label, vid, vol.capacity_bytes))

    staging = os.path.join(TMP, "staging", name)
    target = os.path.join(TMP, "target", name)
    os.makedirs(staging, exist_ok=True)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    cap = mount_cap(FS)
    sec = node_secrets()

    def stage():
        call_ok("NodeStageVolume " + label, "NodeStageVolume", csi.NodeStageVolumeRequest(
            volume_id=vid, staging_target_path=staging, volume_capability=cap,
            secrets=sec, volume_context=ctx))

    def publish():
        call_ok("NodePublishVolume " + label, "NodePublishVolume", csi.NodePublishVolumeRequest(
            volume_id=vid, staging_target_path=staging, target_path=target,
            volume_capability=cap, volume_context=ctx))
        check(is_mounted(target), "%s: %s is not mounted" % (label, target))

    def unpublish():
        call_ok("NodeUnpublishVolume " + label, "NodeUnpublishVolume",
                csi.NodeUnpublishVolumeRequest(volume_id=vid, target_path=target))
        check(not is_mounted(target), "%s: %s still mounted" % (label, target))

    def unstage():
        call_ok("NodeUnstageVolume " + label, "NodeUnstageVolume",
                csi.NodeUnstageVolumeRequest(volume_id=vid, staging_target_path=staging))
        check(not is_mounted(staging), "%s: %s still mounted" % (label, staging))

    stage()
    publish()
    payload = os.urandom(3 * MiB + 123)
    digest = hashlib.sha256(payload).hexdigest()
    path = os.path.join(target, "data.bin")
    with open(path, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    old_fs = fs_bytes(target)
    unpublish()
    unstage()
    ok("%s: staged (%s), published, 3 MiB written and fsynced, unpublished, unstaged" % (label, FS))

    if expand:
        new = GROWN
        r = call_ok("ControllerExpandVolume " + label, "ControllerExpandVolume",
                    csi.ControllerExpandVolumeRequest(
                        volume_id=vid, capacity_range=csi.CapacityRange(required_bytes=new),
                        secrets=token_secrets(), volume_capability=cap))
        check(r.capacity_bytes >= new and r.node_expansion_required,
              "%s: ControllerExpandVolume: %s" % (label, r))
        check(os.path.getsize(os.path.join(vdir, "data")) >= new,
              "%s: the data file did not grow" % label)
        ok("ControllerExpandVolume %s: %d bytes, node_expansion_required" % (label, r.capacity_bytes))
    stage()
    publish()
    if expand:
        r = call_ok("NodeExpandVolume " + label, "NodeExpandVolume", csi.NodeExpandVolumeRequest(
            volume_id=vid, volume_path=target, staging_target_path=staging,
            capacity_range=csi.CapacityRange(required_bytes=new), volume_capability=cap))
        grown = fs_bytes(target)
        check(r.capacity_bytes >= new, "%s: NodeExpandVolume: %s" % (label, r))
        check(grown >= old_fs + (new - size) * 3 // 4, "%s: the filesystem has %d bytes (was %d)"
              % (label, grown, old_fs))
        ok("NodeExpandVolume %s: the filesystem grew from %d to %d bytes" % (label, old_fs, grown))
    with open(path, "rb") as f:
        check(hashlib.sha256(f.read()).hexdigest() == digest, "%s: the file changed" % label)
    ok("%s: restaged, the file is intact" % label)
    unpublish()
    unstage()

    # A copy of the storage files as they were before the delete.
    saved = os.path.join(TMP, "saved", ctx["volume"])
    shutil.copytree(vdir, saved)
    delete(vid, "a")
    check(not os.path.exists(vdir), "%s: %s is still there" % (label, vdir))
    left = [f for f in os.listdir(os.path.join(root, "acme", "volumes")) if ctx["volume"] in f]
    check(not left, "%s: left in the storage root: %s" % (label, left))
    ok("DeleteVolume %s: no file of the volume left in the storage root" % label)
    delete(vid, "a")
    ok("DeleteVolume %s again: OK" % label)

    # The data and metadata restored under a superblock with any other
    # key (a new volume of the same name, size, cipher) do not decrypt.
    vname = "acme/" + ctx["volume"]
    vsize = os.path.getsize(os.path.join(saved, "data"))
    c = sv(root, "volume", "create", vname, "--size", str(vsize), "--cipher", cipher,
           "--service-type", stype)
    check(c.returncode == 0, "%s: volume create for the restore: %s" % (label, c.stderr))
    files = [f for f in ("data", "meta") if os.path.exists(os.path.join(saved, f))]
    for f in files:
        shutil.copyfile(os.path.join(saved, f), os.path.join(vdir, f))
    if "meta" in files:         # an AEAD cipher: every written block fails
        v = sv(root, "volume", "verify", vname)
        check(v.returncode == 1 and "integrity failures" in v.stdout + v.stderr and
              not (v.stdout + v.stderr).strip().endswith(" 0 integrity failures"),
              "%s: verify of the restored data under a new key: exit %d: %s%s"
              % (label, v.returncode, v.stdout, v.stderr))
        how = (v.stdout + v.stderr).strip().splitlines()[-1]
    else:                       # XTS: no tags, the blocks decrypt to noise
        head = read_head(root, ctx["volume"])
        check(not has_fs_magic(head), "%s: the restored data under a new key still "
              "begins with the %s superblock" % (label, FS))
        how = "no %s superblock in the first 4 KiB" % FS
    ok("%s: the saved %s restored under another key do not decrypt: %s"
       % (label, " + ".join(files), how))
    d = sv(root, "volume", "delete", vname)
    check(d.returncode == 0, "%s: cleanup delete: %s" % (label, d.stderr))
    return saved, vname


def group_e2e():
    which = E.get("E2E_EXPAND", "all")
    last = None
    for cipher in CIPHERS:
        for stype in TYPES:
            t0 = time.monotonic()
            last = lifecycle(cipher, stype,
                             which == "all" or which == "%s/%s" % (cipher, stype))
            ok("%s/%s: %.1f s" % (cipher, stype, time.monotonic() - t0))
    # The whole directory copy, superblock included: what does it do?
    saved, vname = last
    root = HOSTS["a"]["root"]
    vdir = os.path.join(root, "acme", "volumes", vname.split("/")[1])
    shutil.copytree(saved, vdir)
    i = sv(root, "volume", "info", vname)
    v = sv(root, "volume", "verify", vname)
    head = read_head(root, vname.split("/")[1])
    print("NOTE: a copy of the whole volume directory (superblock included) restored "
          "after DeleteVolume: info exit %d, verify exit %d (%s), %s superblock readable: %s"
          % (i.returncode, v.returncode, (v.stdout + v.stderr).strip(), FS,
             has_fs_magic(head)), flush=True)
    shutil.rmtree(vdir)


# ------------------------------------------------------------------ hosts


def unavailable_within(label, limit, req):
    """CreateVolume REQ (requiring host b) is UNAVAILABLE within LIMIT s."""
    t0 = time.monotonic()
    expect(label + ", requirement b", C.UNAVAILABLE, "CreateVolume", req, timeout=60)
    dt = time.monotonic() - t0
    check(dt < limit, "%s: UNAVAILABLE took %.1f s" % (label, dt))
    ok("%s: UNAVAILABLE in %.2f s" % (label, dt))


def group_hosts():
    both = {"access-token.a": HOSTS["a"]["token"], "access-token.b": HOSTS["b"]["token"]}
    params = {"cipher": "aes-256-gcm", "serviceType": "gp"}

    def create(name, size, requisite=(), preferred=()):
        return call_ok("CreateVolume " + name, "CreateVolume",
                       create_req(name, size, params, both, requisite, preferred)).volume

    def capacity(host):
        r = call_ok("GetCapacity " + (host or "all"), "GetCapacity", csi.GetCapacityRequest(
            volume_capabilities=[mount_cap()], parameters=params,
            accessible_topology=topo(host) if host else None))
        return r.available_capacity

    cap_a, cap_b = capacity("a"), capacity("b")
    check(0 < cap_a <= 64 * MiB, "GetCapacity a: %d (host a's cap is 64 MiB)" % cap_a)
    check(cap_b > 256 * MiB, "GetCapacity b: %d" % cap_b)
    ok("GetCapacity per segment: a %d bytes, b %d bytes" % (cap_a, cap_b))

    vols = []
    v = create("pvc-on-b", 16 * MiB, requisite=["b"], preferred=["b"])
    check(placed_on(v) == "b" and v.volume_id.startswith("b/acme/"),
          "requisite b: %s on %s" % (v.volume_id, placed_on(v)))
    check(os.path.isdir(os.path.join(HOSTS["b"]["root"], "acme", "volumes",
                                     v.volume_context["volume"])), "pvc-on-b is not in b's root")
    ok("requirement b: %s, accessible_topology b, in b's root" % v.volume_id)
    vols.append(v)

    v = create("pvc-on-a", 16 * MiB, requisite=["a"], preferred=["a"])
    check(placed_on(v) == "a", "requisite a: %s on %s" % (v.volume_id, placed_on(v)))
    ok("requirement a: %s, accessible_topology a" % v.volume_id)
    vols.append(v)
    check(capacity("a") == cap_a - 16 * MiB, "GetCapacity a after 16 MiB there: %d"
          % capacity("a"))
    ok("GetCapacity a dropped by 16 MiB")

    v = create("pvc-big", 128 * MiB)
    check(placed_on(v) == "b", "no requirement, 128 MiB (a has %d bytes left): on %s"
          % (capacity("a"), placed_on(v)))
    ok("no requirement, 128 MiB: on b, the host with room")
    vols.append(v)

    expect("128 MiB with requirement a only (a too small)", C.RESOURCE_EXHAUSTED, "CreateVolume",
           create_req("pvc-big-a", 128 * MiB, params, both, ["a"], ["a"]))

    # Fill host a: 48 MiB left.
    left = capacity("a")
    v = create("pvc-fill-a", left, requisite=["a"], preferred=["a"])
    check(placed_on(v) == "a", "filling a: on %s" % placed_on(v))
    vols.append(v)
    check(capacity("a") == 0, "GetCapacity a once full: %d" % capacity("a"))
    ok("host a full (GetCapacity a: 0)")
    v = create("pvc-skip-full", 16 * MiB, preferred=["a", "b"], requisite=["a", "b"])
    check(placed_on(v) == "b", "a is full and preferred, but placed on %s" % placed_on(v))
    ok("a full host is skipped: a preferred, placed on b")
    vols.append(v)

    # Host b's API goes down.
    pid = int(E["E2E_API_PID_b"])
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
    unavailable_within("host b down", 5, create_req("pvc-b-down", 16 * MiB, params, both,
                                                    ["b"], ["b"]))
    t0 = time.monotonic()
    code, _, err = rpc("GetCapacity", csi.GetCapacityRequest(
        volume_capabilities=[mount_cap()], accessible_topology=topo("b")), 60)
    dt = time.monotonic() - t0
    check(code != C.OK and dt < 5, "GetCapacity b down: %s in %.1f s" % (code.name, dt))
    ok("GetCapacity b while b is down: %s in %.2f s" % (code.name, dt))
    # A host that accepts connections and never answers (TLS never
    # completes): UNAVAILABLE within the host's timeout (4 s), not a hang.
    import socket
    silent = socket.socket()
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    silent.bind(("127.0.0.1", int(E["E2E_API_PORT_b"])))
    silent.listen(16)
    unavailable_within("host b silent", 8, create_req("pvc-b-silent", 16 * MiB, params, both,
                                                      ["b"], ["b"]))
    silent.close()
    for v in vols:
        if v.volume_id.startswith("a/"):
            delete(v.volume_id, "a")
    ok("volumes on a deleted")


if __name__ == "__main__":
    {"e2e": group_e2e, "hosts": group_hosts}[sys.argv[1]]()
    print("all checks passed", flush=True)
