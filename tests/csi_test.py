#!/usr/bin/python3
# The checks of tests/test-csi.sh and tests/test-csi-nbd.sh: a real gRPC
# client (Debian's grpcio, stubs that the shell generates from
# node/csi.proto into $CSI_TEST_TMP/py) drives sealvol-csi-node as a CO
# would, against live TLS storage servers (nbdkit + the sealvol plugin).
#
#   csi_test.py full    everything (SEALVOL_CSI_ATTACH=fuse)
#   csi_test.py nbd     identity, the mount and block lifecycles, secrets
#                       (SEALVOL_CSI_ATTACH=nbd, kernel nbd-client)
#
# One line per check; the first failure prints FAIL, the tail of the
# plugin's log, and exits 1.  The shell passes everything in the
# environment:
#   CSI_ENDPOINT          unix:///.../csi.sock, the plugin's socket
#   CSI_TEST_TMP          the test's scratch directory (everything lives here)
#   CSI_TEST_STATE        the plugin's SEALVOL_CSI_STATE_DIR
#   CSI_TEST_LOG          the plugin's stderr
#   CSI_TEST_RUN          NAME.argv (NUL-separated), NAME.pid, NAME.logpath of
#                         the processes this program may restart: "csi" (the
#                         plugin) and "storage" (nbdkit, whose -P file is
#                         NAME.ready)
#   CSI_TEST_SERVER       HOST:PORT of the storage server (x509, verify-peer)
#   CSI_TEST_PSK_SERVER   HOST:PORT of a storage server using --tls-psk (optional)
#   CSI_TEST_PKI          the certificates: server-ca/ rogue-ca/ acme/ bravo/
#                         (client dirs: client-cert.pem client-key.pem
#                         ca-cert.pem) server.psk wrong.psk
#   CSI_TEST_NODE_ID      the plugin's SEALVOL_CSI_NODE_ID
#   SEALVOL, SEALVOL_ROOT the CLI and the storage root (volume resize)
#   CSI_TEST_TERM_TIMEOUT how long the plugin may take to exit on SIGTERM
#                         (default 5 s)
#
# The checks, in order (full; nbd runs identity, lifecycle and block):
#   identity        GetPluginInfo name/version, plugin capabilities, Probe,
#                   exactly the three node capabilities, node id; Controller,
#                   GroupController and unknown methods are UNIMPLEMENTED; an
#                   undecodable request is refused and the plugin lives on
#   stage_errors    NOT_FOUND (no such export), UNAUTHENTICATED (rogue CA,
#                   untrusted or no client certificate), UNAVAILABLE (closed
#                   port), INVALID_ARGUMENT (no ca-cert/psk, bad psk, missing
#                   volume_context keys, btrfs9, relative path, no access
#                   type, UNKNOWN mode), FAILED_PRECONDITION (multi-node
#                   writer, blank volume reader-only); a volume id with ".."
#                   escapes nothing; none of them leaves a mount, loop
#                   device, attach program or state behind
#   lifecycle       v1, ext4: stage/publish/unpublish/unstage each repeated,
#                   mountinfo, state modes, FAILED_PRECONDITION and
#                   ALREADY_EXISTS cases, files written, stats, full cleanup,
#                   restage with files intact, read-only publish (EROFS),
#                   reader-only stage
#   missing_fields  csi-sanity's missing-field and unknown-volume checks
#   xfs             fs_type xfs + noatime, ALREADY_EXISTS for ext4, no
#                   reformat, restage without fs_type, online expansion
#   block           block device at the target, 1 MiB written, read back
#                   through the storage server and after a restage,
#                   read-only publish, expansion
#   psk             a PSK tenant (wrong PSK: UNAUTHENTICATED), paths with
#                   a space and a tab
#   expansion       OUT_OF_RANGE, idempotent; ext4 online growth
#   plugin_restart  SIGTERM with a client connected, restart, carry on
#   storage_restart nbdkit SIGKILLed and restarted under a writer
#   finish          nothing left; no secret in any log or state file
import errno
import hashlib
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

E = os.environ
MODE = sys.argv[1] if len(sys.argv) > 1 else "full"
TMP = E["CSI_TEST_TMP"]
STATE = E["CSI_TEST_STATE"]
LOG = E["CSI_TEST_LOG"]
RUN = E["CSI_TEST_RUN"]
ENDPOINT = E["CSI_ENDPOINT"]
SERVER = E["CSI_TEST_SERVER"]
PSK_SERVER = E.get("CSI_TEST_PSK_SERVER", "")
PKI = E["CSI_TEST_PKI"]
NODE_ID = E["CSI_TEST_NODE_ID"]
SEALVOL = E["SEALVOL"]
SEALVOL_ROOT = E["SEALVOL_ROOT"]

sys.path.insert(0, os.path.join(TMP, "py"))
import grpc                     # noqa: E402
import csi_pb2 as csi           # noqa: E402
import csi_pb2_grpc as csi_grpc  # noqa: E402

MiB = 1024 * 1024
GiB = 1024 * MiB
RPC_TIMEOUT = 150
C = grpc.StatusCode
AM = csi.VolumeCapability.AccessMode
SNW, SNRO, MNMW = AM.SINGLE_NODE_WRITER, AM.SINGLE_NODE_READER_ONLY, AM.MULTI_NODE_MULTI_WRITER
RPC = csi.NodeServiceCapability.RPC

# ------------------------------------------------------------------ output


def fail(msg):
    print("FAIL: " + msg, flush=True)
    try:
        with open(LOG, errors="replace") as f:
            tail = f.readlines()[-25:]
        print("---- last lines of the plugin's log (%s):" % LOG)
        sys.stdout.write("".join(tail))
    except OSError:
        pass
    sys.exit(1)


def ok(msg):
    print("ok: " + msg, flush=True)


def check(cond, msg):
    if not cond:
        fail(msg)


# ------------------------------------------------------------------ gRPC

CH = IDENT = NODE = None


def connect():
    global CH, IDENT, NODE
    if CH is not None:
        CH.close()
    CH = grpc.insecure_channel(ENDPOINT)
    try:
        grpc.channel_ready_future(CH).result(timeout=30)
    except grpc.FutureTimeoutError:
        fail("could not connect to the plugin at " + ENDPOINT)
    IDENT = csi_grpc.IdentityStub(CH)
    NODE = csi_grpc.NodeStub(CH)


def rpc(name, req, timeout=RPC_TIMEOUT):
    """Call Identity or Node method NAME; returns (code, response, error)."""
    stub = NODE if name.startswith("Node") else IDENT
    try:
        return C.OK, getattr(stub, name)(req, timeout=timeout), None
    except grpc.RpcError as e:
        return e.code(), None, e


def describe(code, err):
    if err is None:
        return code.name
    return "%s (%s)" % (code.name, err.details())


def call_ok(label, name, req):
    """NAME must succeed; returns the response."""
    code, resp, err = rpc(name, req)
    if code != C.OK:
        fail("%s: %s returned %s, want OK" % (label, name, describe(code, err)))
    return resp


def expect(label, want, name, req):
    """NAME must fail with one of the codes WANT (a code or a tuple);
    the status message must be human-readable text and the details
    empty, as the spec says.  Returns the code."""
    want = want if isinstance(want, tuple) else (want,)
    code, _, err = rpc(name, req)
    if code not in want:
        fail("%s: %s returned %s, want %s"
             % (label, name, describe(code, err), " or ".join(w.name for w in want)))
    if code != C.OK:
        check(err.details(), "%s: %s: empty status message" % (label, code.name))
        md = dict(err.trailing_metadata() or ())
        check("grpc-status-details-bin" not in md,
              "%s: %s: the status has details (the spec wants none)" % (label, code.name))
    ok("%s -> %s" % (label, code.name))
    return code


# ------------------------------------------------------------------ requests


def pem_body(path):
    """The base64 lines of the first PEM block in PATH."""
    lines, inside = [], False
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("-----BEGIN"):
                inside = True
            elif line.startswith("-----END"):
                break
            elif inside and line:
                lines.append(line)
    assert lines, "no PEM block in " + path
    return lines


def read(path):
    with open(path) as f:
        return f.read()


SERVER_CA = os.path.join(PKI, "server-ca", "ca-cert.pem")


def x509_secrets(client="acme", ca=SERVER_CA):
    s = {"ca-cert": read(ca)}
    if client:
        s["client-cert"] = read(os.path.join(PKI, client, "client-cert.pem"))
        s["client-key"] = read(os.path.join(PKI, client, "client-key.pem"))
    return s


def psk_line(name):
    return read(os.path.join(PKI, name)).strip()


def mount_cap(fs="", mode=SNW, flags=()):
    return csi.VolumeCapability(
        mount=csi.VolumeCapability.MountVolume(fs_type=fs, mount_flags=list(flags)),
        access_mode=AM(mode=mode))


def block_cap(mode=SNW):
    return csi.VolumeCapability(block=csi.VolumeCapability.BlockVolume(),
                                access_mode=AM(mode=mode))


def strip(req, *fields):
    """REQ with FIELDS unset, as a CO that forgot them would send it."""
    for f in fields:
        req.ClearField(f)
    return req


class Vol:
    """A sealvol volume as the CO sees it: a volume id, its context and
    secrets, a staging directory the CO created."""

    def __init__(self, name, cap, server=None, secrets=None):
        self.name = name
        self.id = "pv-acme-" + name
        self.cap = cap
        self.server = server or SERVER
        self.secrets = x509_secrets() if secrets is None else secrets
        self.staging = os.path.join(TMP, "staging", name)
        os.makedirs(self.staging, exist_ok=True)

    def context(self):
        return {"server": self.server, "tenant": "acme", "volume": self.name}

    def stage_req(self, cap=None, staging=None, secrets=None, context=None, vid=None):
        return csi.NodeStageVolumeRequest(
            volume_id=self.id if vid is None else vid,
            staging_target_path=self.staging if staging is None else staging,
            volume_capability=self.cap if cap is None else cap,
            secrets=self.secrets if secrets is None else secrets,
            volume_context=self.context() if context is None else context)

    def unstage_req(self, staging=None):
        return csi.NodeUnstageVolumeRequest(
            volume_id=self.id, staging_target_path=self.staging if staging is None else staging)

    def publish_req(self, target, readonly=False, cap=None, staging=None):
        return csi.NodePublishVolumeRequest(
            volume_id=self.id,
            staging_target_path=self.staging if staging is None else staging,
            target_path=target,
            volume_capability=self.cap if cap is None else cap,
            readonly=readonly,
            volume_context=self.context())

    def unpublish_req(self, target):
        return csi.NodeUnpublishVolumeRequest(volume_id=self.id, target_path=target)

    def stats_req(self, path):
        return csi.NodeGetVolumeStatsRequest(volume_id=self.id, volume_path=path,
                                             staging_target_path=self.staging)

    def expand_req(self, path, required, cap=None):
        return csi.NodeExpandVolumeRequest(
            volume_id=self.id, volume_path=path,
            capacity_range=csi.CapacityRange(required_bytes=required),
            staging_target_path=self.staging,
            volume_capability=self.cap if cap is None else cap)

    # The happy paths.
    def stage(self, label="stage"):
        call_ok("%s %s" % (label, self.name), "NodeStageVolume", self.stage_req())

    def unstage(self, label="unstage"):
        call_ok("%s %s" % (label, self.name), "NodeUnstageVolume", self.unstage_req())

    def publish(self, target, readonly=False, label="publish"):
        call_ok("%s %s at %s" % (label, self.name, target), "NodePublishVolume",
                self.publish_req(target, readonly))

    def unpublish(self, target, label="unpublish"):
        call_ok("%s %s at %s" % (label, self.name, target), "NodeUnpublishVolume",
                self.unpublish_req(target))


def target(name, leaf="mount"):
    """A target path whose parent the CO created; the plugin creates it."""
    parent = os.path.join(TMP, "pods", name)
    os.makedirs(parent, exist_ok=True)
    return os.path.join(parent, leaf)


# ------------------------------------------------------------------ the node


def _unescape(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mountinfo():
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            a = line.split()
            i = a.index("-")
            out.append({"mp": _unescape(a[4]), "opts": a[5].split(","),
                        "fstype": a[i + 1], "src": _unescape(a[i + 2])})
    return out


def mount_at(path):
    """The topmost mount at PATH, or None."""
    found = None
    for m in mountinfo():
        if m["mp"] == path:
            found = m
    return found


def tmp_mounts():
    return sorted(m["mp"] for m in mountinfo() if m["mp"].startswith(TMP + "/"))


def tmp_loops():
    """Loop devices whose backing file is under TMP."""
    out = set()
    for d in os.listdir("/sys/block"):
        if not d.startswith("loop"):
            continue
        try:
            back = read("/sys/block/%s/loop/backing_file" % d).strip()
        except OSError:
            continue
        if back.startswith(TMP + "/"):
            out.add(d)
    return out


def cmdline(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def attach_procs():
    """{pid: command line} of the attach programs working for this test."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        args = cmdline(pid)
        if not args or not any(TMP in a for a in args):
            continue
        base = os.path.basename(args[0])
        if base in ("sealvol-attach", "lt-sealvol-attach", "nbd-client"):
            out[int(pid)] = " ".join(args)
    return out


def state_entries():
    out = set()
    for d, dirs, files in os.walk(STATE):
        for n in dirs + files:
            out.add(os.path.relpath(os.path.join(d, n), STATE))
    return out


def footprint():
    return {"state": state_entries(), "mounts": tmp_mounts(),
            "loops": tmp_loops(), "attach processes": set(attach_procs())}


def same_footprint(before, label, timeout=5):
    """Everything a stage leaves on the node is gone again: the state
    directory entries, mounts, loop devices and attach processes are
    what they were at BEFORE (polls a little: an attach program may take
    a moment to exit)."""
    deadline = time.time() + timeout
    while True:
        now = footprint()
        diff = {k: (sorted(before[k]), sorted(now[k])) for k in before if before[k] != now[k]}
        if not diff:
            return
        if time.time() > deadline:
            procs = attach_procs()
            fail("%s: left behind: %s%s" % (
                label,
                "; ".join("%s was %s, now %s" % (k, b, n) for k, (b, n) in diff.items()),
                "; attach processes: %s" % procs if procs else ""))
        time.sleep(0.2)


def is_mountpoint(path):
    return mount_at(path) is not None


# ------------------------------------------------------------------ files


def sha(data):
    return hashlib.sha256(data).hexdigest()


def fsync_dir(d):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_files(d, sizes, prefix="f"):
    """Random files of SIZES in D, fsynced; returns {path: sha256}."""
    sums = {}
    for i, size in enumerate(sizes):
        p = os.path.join(d, "%s%d" % (prefix, i))
        data = os.urandom(size)
        write_file(p, data)
        sums[p] = sha(data)
    fsync_dir(d)
    return sums


def verify_files(sums, label):
    for p, want in sorted(sums.items()):
        try:
            with open(p, "rb") as f:
                got = sha(f.read())
        except OSError as e:
            fail("%s: reading %s: %s" % (label, p, e))
        check(got == want, "%s: %s differs (sha256 %s, want %s)" % (label, p, got, want))
    ok("%s: %d files intact (sha256)" % (label, len(sums)))


def rebase(sums, old, new):
    return {new + p[len(old):]: s for p, s in sums.items()}


def assert_read_only(d, label):
    p = os.path.join(d, "must-not-exist")
    try:
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
    except OSError as e:
        check(e.errno == errno.EROFS, "%s: creating a file failed with %s, want EROFS"
              % (label, errno.errorcode.get(e.errno, e.errno)))
        ok("%s: writes fail with EROFS" % label)
        return
    os.close(fd)
    fail("%s: created %s on a read-only publish" % (label, p))


def fs_bytes(path):
    st = os.statvfs(path)
    return st.f_blocks * st.f_frsize


# ------------------------------------------------------------------ secrets

SECRET_PATTERNS = {}


def load_secret_patterns():
    """Text that must never appear in a log or outside a secrets/
    directory: the PEM bodies of the client keys and the CAs, and the
    PSKs' hex keys."""
    for name, path in [("acme client key", "acme/client-key.pem"),
                       ("bravo client key", "bravo/client-key.pem"),
                       ("server CA", "server-ca/ca-cert.pem"),
                       ("rogue CA", "rogue-ca/ca-cert.pem")]:
        SECRET_PATTERNS[name] = [l for l in pem_body(os.path.join(PKI, path)) if len(l) >= 16]
    for name in ("server.psk", "wrong.psk"):
        p = os.path.join(PKI, name)
        if os.path.exists(p):
            SECRET_PATTERNS[name + " key"] = [psk_line(name).split(":", 1)[1]]


def find_secret(text):
    for name, pats in SECRET_PATTERNS.items():
        for pat in pats:
            if pat in text:
                return name
    return None


def scan_secrets(label, allow_secrets_dirs):
    """No secret in the plugin's log, in any file under the state
    directory (except inside a secrets/ directory, if ALLOW_SECRETS_DIRS)
    or on an attach program's command line."""
    files = [LOG]
    for d, dirs, names in os.walk(STATE):
        rel = os.path.relpath(d, STATE).split(os.sep)
        if allow_secrets_dirs and "secrets" in rel:
            continue
        for n in names:
            files.append(os.path.join(d, n))
    for p in files:
        try:
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                continue
            with open(p, "rb") as f:
                text = f.read(64 * MiB).decode("latin-1")
        except OSError:
            continue
        what = find_secret(text)
        check(what is None, "%s: %s contains the %s" % (label, p, what))
    for pid, cmd in attach_procs().items():
        what = find_secret(cmd)
        check(what is None, "%s: the command line of %d contains the %s" % (label, pid, what))
    ok("%s: no secret in the plugin's log, %s or the attach programs' command lines"
       % (label, "the state outside secrets/" if allow_secrets_dirs else "any file of the state"))


def check_state_modes(label):
    """The state directory is 0700; each secrets/ directory 0700 with
    files 0600; there is at least one secrets/ directory."""
    mode = stat.S_IMODE(os.stat(STATE).st_mode)
    check(mode & 0o077 == 0, "%s: %s has mode %o, want 0700" % (label, STATE, mode))
    found = 0
    for d, dirs, names in os.walk(STATE):
        if os.path.basename(d) != "secrets":
            continue
        found += 1
        mode = stat.S_IMODE(os.stat(d).st_mode)
        check(mode == 0o700, "%s: %s has mode %o, want 0700" % (label, d, mode))
        for n in names:
            mode = stat.S_IMODE(os.lstat(os.path.join(d, n)).st_mode)
            check(mode == 0o600, "%s: %s/%s has mode %o, want 0600" % (label, d, n, mode))
    check(found, "%s: no secrets/ directory under %s while a volume is staged" % (label, STATE))
    ok("%s: state directory 0700, %d secrets/ director%s 0700 with files 0600"
       % (label, found, "y" if found == 1 else "ies"))


# ------------------------------------------------------------------ processes


def pid_of(name):
    return int(read(os.path.join(RUN, name + ".pid")).strip())


def alive(pid):
    try:
        s = read("/proc/%d/stat" % pid)
    except OSError:
        return False
    return s[s.rindex(")") + 2] != "Z"


def kill_and_wait(name, sig, timeout=5):
    """Signal NAME and wait until it has exited; returns the seconds
    that took."""
    pid = pid_of(name)
    start = time.time()
    os.kill(pid, sig)
    while alive(pid):
        if time.time() > start + timeout:
            fail("%s (pid %d) did not exit within %d s of signal %d"
                 % (name, pid, timeout, sig))
        time.sleep(0.05)
    try:                        # reap it if it is our child
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return time.time() - start


def relaunch(name):
    """Start NAME again with the same command line (the shell wrote it)."""
    with open(os.path.join(RUN, name + ".argv"), "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0")[:-1]]
    logpath = read(os.path.join(RUN, name + ".logpath")).strip()
    ready = os.path.join(RUN, name + ".ready")
    if os.path.exists(ready):
        os.unlink(ready)
    with open(logpath, "ab") as log:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True)
    with open(os.path.join(RUN, name + ".pid"), "w") as f:
        f.write("%d\n" % p.pid)
    return p


def restart_storage():
    p = relaunch("storage")
    ready = os.path.join(RUN, "storage.ready")
    deadline = time.time() + 15
    while not (os.path.exists(ready) and os.path.getsize(ready) > 0):
        if p.poll() is not None:
            fail("the storage server did not restart (exit %s); see its log" % p.returncode)
        if time.time() > deadline:
            fail("the restarted storage server wrote no pid file")
        time.sleep(0.05)


def restart_plugin():
    relaunch("csi")
    connect()
    call_ok("Probe after the restart", "Probe", csi.ProbeRequest())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sealvol(*args):
    return subprocess.run([SEALVOL, "--root", SEALVOL_ROOT] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def resize_available():
    r = sealvol("--help")
    return "volume resize" in r.stdout + r.stderr


def has_cap_sys_resource():
    for line in open("/proc/self/status"):
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) & (1 << 24))
    return False


def resize(spec, size):
    r = sealvol("volume", "resize", spec, "--size", size)
    check(r.returncode == 0, "sealvol volume resize %s --size %s failed (%d): %s"
          % (spec, size, r.returncode, r.stderr.strip()))


def nbd_read(export, length, offset):
    """Read straight from the storage server over TLS (libnbd)."""
    import nbd
    h = nbd.NBD()
    h.set_uri_allow_local_file(True)
    h.connect_uri("nbds://%s/%s?tls-certificates=%s" % (SERVER, export, os.path.join(PKI, "acme")))
    try:
        return h.pread(length, offset)
    finally:
        h.shutdown()


# ================================================================== checks


def identity():
    r = call_ok("GetPluginInfo", "GetPluginInfo", csi.GetPluginInfoRequest())
    check(re.fullmatch(r"[a-zA-Z][A-Za-z0-9-._]{0,61}[a-zA-Z]", r.name),
          "GetPluginInfo: name %r is not of the form csi-sanity accepts" % r.name)
    check(r.vendor_version, "GetPluginInfo: empty vendor_version")
    ok("GetPluginInfo: name %s, vendor_version %s" % (r.name, r.vendor_version))

    r = call_ok("GetPluginCapabilities", "GetPluginCapabilities",
                csi.GetPluginCapabilitiesRequest())
    S = csi.PluginCapability.Service
    X = csi.PluginCapability.VolumeExpansion
    names = []
    for c in r.capabilities:
        kind = c.WhichOneof("type")
        if kind == "service":
            check(c.service.type in (S.VOLUME_ACCESSIBILITY_CONSTRAINTS,
                                     S.GROUP_CONTROLLER_SERVICE),
                  "GetPluginCapabilities: service type %s on a node-only plugin"
                  % S.Type.Name(c.service.type))
            names.append(S.Type.Name(c.service.type))
        elif kind == "volume_expansion":
            check(c.volume_expansion.type in (X.ONLINE, X.OFFLINE),
                  "GetPluginCapabilities: volume_expansion type %s" % c.volume_expansion.type)
            names.append("VolumeExpansion." + X.Type.Name(c.volume_expansion.type))
        else:
            fail("GetPluginCapabilities: an entry with no type")
    ok("GetPluginCapabilities: [%s]" % ", ".join(names))

    r = call_ok("Probe", "Probe", csi.ProbeRequest())
    check(not r.HasField("ready") or r.ready.value, "Probe: ready is false")
    ok("Probe: OK")

    r = call_ok("NodeGetCapabilities", "NodeGetCapabilities", csi.NodeGetCapabilitiesRequest())
    got = []
    for c in r.capabilities:
        check(c.WhichOneof("type") == "rpc", "NodeGetCapabilities: an entry that is not an rpc")
        got.append(c.rpc.type)
    want = [RPC.STAGE_UNSTAGE_VOLUME, RPC.GET_VOLUME_STATS, RPC.EXPAND_VOLUME]
    check(sorted(got) == sorted(want), "NodeGetCapabilities: %s, want exactly %s"
          % ([RPC.Type.Name(t) for t in got], [RPC.Type.Name(t) for t in want]))
    ok("NodeGetCapabilities: exactly %s" % ", ".join(RPC.Type.Name(t) for t in want))

    r = call_ok("NodeGetInfo", "NodeGetInfo", csi.NodeGetInfoRequest())
    check(r.node_id == NODE_ID, "NodeGetInfo: node_id %r, want %r" % (r.node_id, NODE_ID))
    check(r.max_volumes_per_node >= 0, "NodeGetInfo: negative max_volumes_per_node")
    if r.HasField("accessible_topology"):
        check("VOLUME_ACCESSIBILITY_CONSTRAINTS" in names,
              "NodeGetInfo: accessible_topology without VOLUME_ACCESSIBILITY_CONSTRAINTS")
    ok("NodeGetInfo: node_id %s" % r.node_id)

    raw = lambda b: b      # noqa: E731
    for path in ("/csi.v1.Controller/ControllerGetCapabilities",
                 "/csi.v1.Controller/CreateVolume",
                 "/csi.v1.GroupController/GroupControllerGetCapabilities",
                 "/csi.v1.Node/NodeNoSuchMethod"):
        try:
            CH.unary_unary(path, request_serializer=raw, response_deserializer=raw)(b"", timeout=10)
            fail("%s answered OK" % path)
        except grpc.RpcError as e:
            check(e.code() == C.UNIMPLEMENTED, "%s: %s, want UNIMPLEMENTED" % (path, describe(e.code(), e)))
        ok("%s -> UNIMPLEMENTED" % path)

    # A request that is not a protobuf message must be refused, and the
    # plugin must live on.
    try:
        CH.unary_unary("/csi.v1.Node/NodeStageVolume", request_serializer=raw,
                       response_deserializer=raw)(b"\xff\xff\xff\xff\x0f", timeout=10)
        fail("NodeStageVolume with an undecodable request answered OK")
    except grpc.RpcError as e:
        code = e.code()
    call_ok("Probe after an undecodable request", "Probe", csi.ProbeRequest())
    ok("an undecodable NodeStageVolume request -> %s; the plugin lives on" % code.name)


def stage_errors():
    """NodeStageVolume calls that must fail, each leaving nothing behind."""
    v = Vol("v1", mount_cap())
    before = footprint()

    def bad(label, want, req):
        expect(label, want, "NodeStageVolume", req)
        check(not is_mountpoint(v.staging), "%s: %s was mounted" % (label, v.staging))
        same_footprint(before, label)

    nosuch = Vol("nosuch", mount_cap())
    expect("stage an export that does not exist", C.NOT_FOUND, "NodeStageVolume", nosuch.stage_req())
    check(not is_mountpoint(nosuch.staging), "stage nosuch: the staging path was mounted")
    same_footprint(before, "stage nosuch")

    rogue = os.path.join(PKI, "rogue-ca", "ca-cert.pem")
    bad("stage with a CA that did not sign the server", C.UNAUTHENTICATED,
        v.stage_req(secrets=x509_secrets(ca=rogue)))
    bad("stage with a client certificate the server does not trust", C.UNAUTHENTICATED,
        v.stage_req(secrets=x509_secrets(client="bravo")))
    bad("stage with no client certificate (the server requires one)", C.UNAUTHENTICATED,
        v.stage_req(secrets=x509_secrets(client=None)))
    ctx = v.context()
    ctx["server"] = "127.0.0.1:%d" % free_port()
    bad("stage against a closed port", C.UNAVAILABLE, v.stage_req(context=ctx))
    bad("stage with neither ca-cert nor psk", C.INVALID_ARGUMENT, v.stage_req(secrets={}))
    bad("stage with a client key but no ca-cert or psk", C.INVALID_ARGUMENT,
        v.stage_req(secrets={k: s for k, s in x509_secrets().items() if k != "ca-cert"}))
    bad("stage with a malformed psk", C.INVALID_ARGUMENT, v.stage_req(secrets={"psk": "no colon here"}))
    for key in ("server", "tenant", "volume"):
        ctx = v.context()
        del ctx[key]
        bad("stage without volume_context[%s]" % key, C.INVALID_ARGUMENT, v.stage_req(context=ctx))
    code = expect("stage with MULTI_NODE_MULTI_WRITER mount access",
                  (C.FAILED_PRECONDITION, C.INVALID_ARGUMENT), "NodeStageVolume",
                  v.stage_req(cap=mount_cap(mode=MNMW)))
    same_footprint(before, "stage MULTI_NODE_MULTI_WRITER (%s)" % code.name)
    bad("stage with fs_type btrfs9", C.INVALID_ARGUMENT, v.stage_req(cap=mount_cap(fs="btrfs9")))
    bad("stage at a relative staging path", C.INVALID_ARGUMENT,
        v.stage_req(staging="staging/v1"))
    bad("stage with a capability that is neither block nor mount", C.INVALID_ARGUMENT,
        v.stage_req(cap=csi.VolumeCapability(access_mode=AM(mode=SNW))))
    bad("stage with access mode UNKNOWN", C.INVALID_ARGUMENT,
        v.stage_req(cap=mount_cap(mode=AM.UNKNOWN)))

    blank = Vol("blank", mount_cap(mode=SNRO))
    expect("stage a blank volume with a reader-only mode", C.FAILED_PRECONDITION,
           "NodeStageVolume", blank.stage_req())
    check(not is_mountpoint(blank.staging), "blank reader-only: the staging path was mounted")
    same_footprint(before, "stage blank reader-only")

    # A volume id is opaque to the CO: whatever it holds, nothing may be
    # made outside the state directory.
    escape = "escape-%d" % os.getpid()
    weird = Vol("blank", mount_cap())
    weird.id = "../" + escape
    code = expect("stage with volume_id ../%s" % escape, (C.OK, C.INVALID_ARGUMENT),
                  "NodeStageVolume", weird.stage_req())
    check(not os.path.exists(os.path.join(TMP, escape)),
          "volume_id ../%s: the plugin created %s/%s" % (escape, TMP, escape))
    if code == C.OK:
        weird.unstage()
    same_footprint(before, "volume_id with ..")
    ok("stage errors: nothing was left behind by any of them")


def lifecycle():
    """The mount lifecycle on v1 (ext4, SINGLE_NODE_WRITER).  Leaves v1
    staged and published at pods/p1/mount; returns the written files."""
    v = Vol("v1", mount_cap())
    before = footprint()

    v.stage()
    v.stage("stage again (idempotent):")
    m = mount_at(v.staging)
    check(m is not None, "stage: %s is not a mountpoint" % v.staging)
    check(m["fstype"] == "ext4", "stage: %s has fstype %s, want ext4" % (v.staging, m["fstype"]))
    ok("staging path is a mountpoint, ext4 (from %s)" % m["src"])
    # What the unstage checks below look for is really there.
    now = footprint()
    check(now["attach processes"] - before["attach processes"],
          "staged v1, but no attach program mentions %s: %s" % (TMP, attach_procs()))
    check(MODE == "nbd" or now["loops"] - before["loops"],
          "staged v1, but no loop device has its backing file under %s" % TMP)
    check(now["state"] - before["state"], "staged v1, but %s is empty" % STATE)
    ok("staged v1: an attach program, %s and state under %s"
       % ("an nbd device" if MODE == "nbd" else "a loop device", STATE))
    check_state_modes("staged v1")
    scan_secrets("staged v1", allow_secrets_dirs=True)

    other = os.path.join(TMP, "staging", "v1-other")
    os.makedirs(other, exist_ok=True)
    expect("stage v1 at a second staging path", C.FAILED_PRECONDITION, "NodeStageVolume",
           v.stage_req(staging=other))
    check(not is_mountpoint(other), "the second staging path was mounted")
    expect("stage v1 again with another capability (xfs)", C.ALREADY_EXISTS, "NodeStageVolume",
           v.stage_req(cap=mount_cap(fs="xfs")))
    check(mount_at(v.staging)["fstype"] == "ext4", "the staging mount changed")

    p1 = target("p1")
    expect("publish with staging_target_path empty", C.FAILED_PRECONDITION, "NodePublishVolume",
           v.publish_req(p1, staging=""))
    check(not is_mountpoint(p1), "publish without staging: %s was mounted" % p1)
    expect("publish from a path where v1 is not staged", (C.FAILED_PRECONDITION, C.NOT_FOUND),
           "NodePublishVolume", v.publish_req(p1, staging=other))
    check(not is_mountpoint(p1), "publish from the wrong staging path: %s was mounted" % p1)
    check(not os.path.exists(p1), "the CO did not create %s; it must not exist yet" % p1)
    v.publish(p1)
    check(os.path.isdir(p1) and is_mountpoint(p1), "publish: %s is not a mounted directory" % p1)
    check("ro" not in mount_at(p1)["opts"], "publish: %s is mounted read-only" % p1)
    ok("publish created %s, a mounted directory" % p1)
    v.publish(p1, label="publish again (idempotent):")
    expect("publish at the same target with readonly=true", C.ALREADY_EXISTS,
           "NodePublishVolume", v.publish_req(p1, readonly=True))
    p2 = target("p2")
    expect("publish a SINGLE_NODE_WRITER volume at a second target", C.FAILED_PRECONDITION,
           "NodePublishVolume", v.publish_req(p2))
    check(not is_mountpoint(p2), "the second target %s was mounted" % p2)

    sums = write_files(p1, [1, 4096, 65537, 1 * MiB + 7, 3 * MiB, 123457, 0, 2 * MiB])
    ok("wrote %d files in %s" % (len(sums), p1))
    # The files are visible through the staging mount too.
    verify_files(rebase(sums, p1, v.staging), "the same files through the staging path")

    r = call_ok("NodeGetVolumeStats", "NodeGetVolumeStats", v.stats_req(p1))
    usage = {u.unit: u for u in r.usage}
    b = usage.get(csi.VolumeUsage.BYTES)
    i = usage.get(csi.VolumeUsage.INODES)
    check(b is not None and i is not None, "NodeGetVolumeStats: want BYTES and INODES, got %s" % r)
    check(200 * MiB < b.total <= 256 * MiB, "NodeGetVolumeStats: total %d bytes, want 200-256 MiB" % b.total)
    check(b.used > 0 and b.available > 0 and b.used + b.available <= b.total,
          "NodeGetVolumeStats: bytes used %d available %d total %d" % (b.used, b.available, b.total))
    check(i.total > 0 and i.used > 0 and i.available > 0,
          "NodeGetVolumeStats: inodes used %d available %d total %d" % (i.used, i.available, i.total))
    ok("NodeGetVolumeStats: %d bytes total, %d used, %d available; %d inodes, %d used"
       % (b.total, b.used, b.available, i.total, i.used))
    call_ok("NodeGetVolumeStats on the staging path", "NodeGetVolumeStats", v.stats_req(v.staging))
    ok("NodeGetVolumeStats on the staging path: OK")
    expect("NodeGetVolumeStats at a path where v1 is not", C.NOT_FOUND, "NodeGetVolumeStats",
           v.stats_req(os.path.join(TMP, "pods")))
    req = v.stats_req(p1)
    req.volume_id = "pv-no-such-volume"
    expect("NodeGetVolumeStats for another volume id at v1's target", C.NOT_FOUND,
           "NodeGetVolumeStats", req)

    v.unpublish(p1)
    check(not os.path.lexists(p1), "unpublish: %s still exists" % p1)
    ok("unpublish removed %s" % p1)
    v.unpublish(p1, label="unpublish again (idempotent):")
    v.unstage()
    check(not is_mountpoint(v.staging), "unstage: %s is still a mountpoint" % v.staging)
    same_footprint(before, "unstage v1")
    scan_secrets("unstaged v1", allow_secrets_dirs=False)
    ok("unstage: staging unmounted; state, loop device and attach program gone")
    v.unstage("unstage again (idempotent):")

    v.stage("stage again")
    v.publish(p1, label="publish again")
    verify_files(sums, "after unstage and stage again")
    v.unpublish(p1)

    p1b = target("p1b")
    v.publish(p1b, readonly=True, label="publish read-only")
    check("ro" in mount_at(p1b)["opts"], "read-only publish: %s is not mounted ro" % p1b)
    assert_read_only(p1b, "read-only publish")
    verify_files(rebase(sums, p1, p1b), "read-only publish")
    v.unpublish(p1b)
    check(not os.path.lexists(p1b), "unpublish: %s still exists" % p1b)
    v.unstage()
    same_footprint(before, "unstage v1 (second time)")

    # Staged with a reader-only mode: the staging mount is read-only and
    # only a read-only publish is allowed.
    v.cap = mount_cap(mode=SNRO)
    v.stage("stage reader-only")
    check("ro" in mount_at(v.staging)["opts"], "reader-only stage: the staging mount is not ro")
    ok("reader-only stage: the staging mount is read-only")
    p1c = target("p1c")
    expect("writable publish of a volume staged reader-only", C.FAILED_PRECONDITION,
           "NodePublishVolume", v.publish_req(p1c, cap=mount_cap()))
    check(not is_mountpoint(p1c), "refused writable publish: %s was mounted" % p1c)
    v.publish(p1c, label="publish reader-only")
    assert_read_only(p1c, "publish of a reader-only stage")
    verify_files(rebase(sums, p1, p1c), "publish of a reader-only stage")
    v.unpublish(p1c)
    v.unstage()
    same_footprint(before, "unstage reader-only v1")

    v.cap = mount_cap()
    v.stage()
    v.publish(p1)
    verify_files(sums, "v1 staged and published again")
    return v, p1, sums


def missing_fields(v, p1):
    """csi-sanity's missing-field checks (csi-facts part F) with v1
    staged, and its unknown-volume checks."""
    stage = v.stage_req()
    publish = v.publish_req(target("p9"))
    cases = [
        ("NodeStageVolume", stage, ["volume_id", "staging_target_path", "volume_capability"]),
        ("NodePublishVolume", publish, ["volume_id", "target_path", "volume_capability"]),
        ("NodeUnpublishVolume", v.unpublish_req(p1), ["volume_id", "target_path"]),
        ("NodeUnstageVolume", v.unstage_req(), ["volume_id", "staging_target_path"]),
        ("NodeGetVolumeStats", v.stats_req(p1), ["volume_id", "volume_path"]),
        ("NodeExpandVolume", v.expand_req(p1, 256 * MiB), ["volume_id", "volume_path"]),
    ]
    for name, req, fields in cases:
        for f in fields:
            r = type(req)()
            r.CopyFrom(req)
            expect("%s without %s" % (name, f), C.INVALID_ARGUMENT, name, strip(r, f))
    check(is_mountpoint(p1) and is_mountpoint(v.staging), "v1 is no longer staged and published")

    expect("NodeGetVolumeStats, unknown volume, path some/path", C.NOT_FOUND, "NodeGetVolumeStats",
           csi.NodeGetVolumeStatsRequest(volume_id="csi-sanity-no-such-volume", volume_path="some/path"))
    expect("NodeExpandVolume, unknown volume, path some/path", C.NOT_FOUND, "NodeExpandVolume",
           csi.NodeExpandVolumeRequest(volume_id="csi-sanity-no-such-volume", volume_path="some/path",
                                       capacity_range=csi.CapacityRange(required_bytes=MiB)))
    expect("NodeExpandVolume for v1 at a path where it is not", C.NOT_FOUND, "NodeExpandVolume",
           v.expand_req(os.path.join(TMP, "pods"), 256 * MiB))
    vb = Vol("vb", block_cap())
    expect("publish a volume that is not staged", C.FAILED_PRECONDITION, "NodePublishVolume",
           vb.publish_req(target("p9")))
    check(not os.path.lexists(target("p9")), "a refused publish created its target")
    call_ok("unstage of a volume never staged", "NodeUnstageVolume",
            csi.NodeUnstageVolumeRequest(volume_id="pv-never", staging_target_path=os.path.join(TMP, "staging", "never")))
    call_ok("unpublish of a volume never published", "NodeUnpublishVolume",
            csi.NodeUnpublishVolumeRequest(volume_id="pv-never", target_path=target("never")))
    ok("unstage and unpublish of a volume never staged: OK")


def xfs():
    v = Vol("vx", mount_cap(fs="xfs", flags=["noatime"]))
    before = footprint()
    v.stage("stage (xfs, noatime)")
    m = mount_at(v.staging)
    check(m is not None and m["fstype"] == "xfs", "xfs stage: staging mount %s, want xfs" % m)
    check("noatime" in m["opts"], "xfs stage: mount flag noatime not applied (%s)" % m["opts"])
    ok("xfs stage: staging fstype xfs, noatime")
    v.stage("stage again (idempotent):")
    expect("restage at the same path with fs_type ext4", C.ALREADY_EXISTS, "NodeStageVolume",
           v.stage_req(cap=mount_cap(fs="ext4", flags=["noatime"])))
    check(mount_at(v.staging)["fstype"] == "xfs", "the xfs staging mount changed")
    p4 = target("p4")
    v.publish(p4)
    sums = write_files(p4, [MiB, 12345])
    st = call_ok("NodeGetVolumeStats (xfs)", "NodeGetVolumeStats", v.stats_req(p4))
    check(any(u.unit == csi.VolumeUsage.BYTES and u.total > 250 * MiB for u in st.usage),
          "xfs stats: %s" % st)
    v.unpublish(p4)
    v.unstage()
    same_footprint(before, "unstage vx")

    # Never reformat a volume that holds a filesystem: asking for ext4 on
    # the xfs volume must not make an ext4.
    code, _, err = rpc("NodeStageVolume", v.stage_req(cap=mount_cap(fs="ext4")))
    if code == C.OK:
        m = mount_at(v.staging)
        check(m is None or m["fstype"] != "ext4", "staging ext4 over an xfs volume reformatted it")
        v.unstage()
    same_footprint(before, "stage ext4 over xfs")
    ok("stage with fs_type ext4 on an xfs volume -> %s; not reformatted" % describe(code, err))
    v.cap = mount_cap()
    v.stage("stage with fs_type unspecified")
    m = mount_at(v.staging)
    check(m is not None and m["fstype"] == "xfs", "stage with no fs_type: mounted %s, want xfs" % m)
    v.publish(p4)
    verify_files(sums, "xfs volume restaged")
    if MODE == "full" and resize_available():
        expand_and_check(v, p4, 448, sums)
    v.unpublish(p4)
    v.unstage()
    same_footprint(before, "unstage vx again")


def block():
    v = Vol("vb", block_cap())
    before = footprint()
    v.stage("stage (block)")
    v.stage("stage again (idempotent):")
    expect("restage the block volume as a mount", C.ALREADY_EXISTS, "NodeStageVolume",
           v.stage_req(cap=mount_cap()))
    p3 = target("p3", "dev")
    v.publish(p3)
    st = os.stat(p3)
    check(stat.S_ISBLK(st.st_mode), "block publish: %s is not a block device (mode %o)" % (p3, st.st_mode))
    fd = os.open(p3, os.O_RDWR)
    size = os.lseek(fd, 0, os.SEEK_END)
    check(size == 64 * MiB, "block publish: the device has %d bytes, want %d" % (size, 64 * MiB))
    ok("block publish: %s is a block device of 64 MiB" % p3)
    v.publish(p3, label="publish again (idempotent):")
    data = os.urandom(MiB)
    check(os.pwrite(fd, data, 4096) == len(data), "short write to the block device")
    os.fsync(fd)
    os.close(fd)
    ok("wrote 1 MiB at offset 4096 of the block device")
    r = call_ok("NodeGetVolumeStats (block)", "NodeGetVolumeStats", v.stats_req(p3))
    b = [u for u in r.usage if u.unit == csi.VolumeUsage.BYTES]
    check(b and b[0].total == 64 * MiB, "block stats: want BYTES total %d, got %s" % (64 * MiB, r))
    ok("NodeGetVolumeStats (block): %d bytes" % b[0].total)
    v.unpublish(p3)
    check(not os.path.lexists(p3), "block unpublish: %s still exists" % p3)
    v.unpublish(p3, label="unpublish again (idempotent):")
    v.unstage()
    same_footprint(before, "unstage vb")
    v.unstage("unstage again (idempotent):")

    got = nbd_read("vb", len(data), 4096)
    check(got == data, "block: the storage server does not hold what was written")
    ok("block: the storage server holds the written bytes (read over TLS with libnbd)")

    v.stage()
    v.publish(p3)
    with open(p3, "rb") as f:
        f.seek(4096)
        got = f.read(len(data))
    check(got == data, "block: read back after restage differs")
    ok("block: read back after unstage and stage again: identical")
    v.unpublish(p3)

    # A read-only publish of a block volume cannot be written.
    v.publish(p3, readonly=True, label="publish read-only (block)")
    try:
        fd = os.open(p3, os.O_RDWR)
        try:
            os.pwrite(fd, b"x" * 4096, 0)
            os.fsync(fd)
            fail("block: wrote to a read-only publish")
        finally:
            os.close(fd)
    except OSError as e:
        check(e.errno in (errno.EROFS, errno.EACCES, errno.EPERM),
              "block read-only publish: %s" % e)
        ok("block read-only publish: writing fails (%s)" % errno.errorcode[e.errno])
    with open(p3, "rb") as f:
        f.seek(4096)
        check(f.read(len(data)) == data, "block read-only publish: data differs")
    v.unpublish(p3)

    if MODE == "full" and resize_available():
        v.publish(p3)
        resize("acme/vb", "96M")
        r = call_ok("NodeExpandVolume (block)", "NodeExpandVolume", v.expand_req(p3, 96 * MiB))
        check(r.capacity_bytes >= 96 * MiB, "block expand: capacity_bytes %d" % r.capacity_bytes)
        fd = os.open(p3, os.O_RDONLY)
        size = os.lseek(fd, 0, os.SEEK_END)
        os.close(fd)
        check(size == 96 * MiB, "block expand: the device has %d bytes, want %d" % (size, 96 * MiB))
        ok("block expand: the device grew to 96 MiB")
        v.unpublish(p3)
    v.unstage()
    same_footprint(before, "unstage vb again")


def psk():
    if not PSK_SERVER:
        return
    v = Vol("vp", mount_cap(), server=PSK_SERVER, secrets={"psk": psk_line("server.psk")})
    # Paths with a space and a tab (escaped in /proc/self/mountinfo).
    v.staging = os.path.join(TMP, "staging", "vp with space\tand tab")
    os.makedirs(v.staging)
    before = footprint()
    expect("stage with a wrong PSK", C.UNAUTHENTICATED, "NodeStageVolume",
           v.stage_req(secrets={"psk": psk_line("wrong.psk")}))
    same_footprint(before, "stage with a wrong PSK")
    v.stage("stage with a PSK")
    scan_secrets("staged with a PSK", allow_secrets_dirs=True)
    check_state_modes("staged with a PSK")
    p5 = target("p5 x", "mo unt")
    v.publish(p5)
    sums = write_files(p5, [MiB + 3, 777])
    v.unpublish(p5)
    v.unstage()
    same_footprint(before, "unstage vp")
    v.stage()
    v.publish(p5)
    verify_files(sums, "PSK volume restaged")
    v.unpublish(p5)
    v.unstage()
    same_footprint(before, "unstage vp again")


def expand_and_check(v, path, mib, sums):
    """Grow V on the storage side to MIB MiB (it grows by 128 MiB), then
    NodeExpandVolume at PATH: the new capacity, a filesystem 100+ MiB
    bigger, idempotent, 1 GiB is OUT_OF_RANGE, the files intact."""
    label = "NodeExpandVolume (%s) to %d MiB" % (v.name, mib)
    old = fs_bytes(path)
    resize("acme/" + v.name, "%dM" % mib)
    r = call_ok(label, "NodeExpandVolume", v.expand_req(path, mib * MiB))
    check(r.capacity_bytes >= mib * MiB, "%s: capacity_bytes %d" % (label, r.capacity_bytes))
    new = fs_bytes(path)
    check(new >= old + 100 * MiB, "%s: the filesystem has %d bytes (was %d)" % (label, new, old))
    ok("%s: capacity_bytes %d; the filesystem grew from %d to %d bytes"
       % (label, r.capacity_bytes, old, new))
    call_ok(label + " again", "NodeExpandVolume", v.expand_req(path, mib * MiB))
    ok(label + " again (idempotent): OK")
    expect("NodeExpandVolume (%s) to 1 GiB" % v.name, C.OUT_OF_RANGE, "NodeExpandVolume",
           v.expand_req(path, GiB))
    r = call_ok("NodeGetVolumeStats after the expansion", "NodeGetVolumeStats", v.stats_req(path))
    b = [u for u in r.usage if u.unit == csi.VolumeUsage.BYTES]
    check(b and b[0].total >= old + 100 * MiB, "stats after the expansion: %s" % r)
    verify_files(sums, "%s after the expansion" % v.name)


def expansion(v, p1, sums):
    """v1 is staged and published at p1."""
    expect("NodeExpandVolume beyond the storage size (1 GiB)", C.OUT_OF_RANGE, "NodeExpandVolume",
           v.expand_req(p1, GiB))
    r = call_ok("NodeExpandVolume to the current size", "NodeExpandVolume", v.expand_req(p1, 256 * MiB))
    ok("NodeExpandVolume to the current size: OK (capacity_bytes %d)" % r.capacity_bytes)
    if not resize_available():
        print("SKIP: expansion: this sealvol has no 'volume resize'", flush=True)
        return
    if not has_cap_sys_resource():
        print("SKIP: ext4 expansion: no CAP_SYS_RESOURCE here, which the kernel wants for "
              "an online ext4 resize (xfs expansion was checked)", flush=True)
        return
    expand_and_check(v, p1, 384, sums)


def plugin_restart(v, p1, sums):
    """v1 staged and published.  Ends with v1 staged and published again."""
    procs = set(attach_procs())
    # A CO keeps its connection open: the plugin must still exit promptly.
    took = kill_and_wait("csi", signal.SIGTERM, int(E.get("CSI_TEST_TERM_TIMEOUT", "5")))
    ok("the plugin exited %.1f s after SIGTERM, with a client connected" % took)
    verify_files(sums, "while the plugin is down")
    check(set(attach_procs()) == procs, "the attach programs changed while the plugin was down")
    restart_plugin()
    ok("the plugin restarted")
    r = call_ok("NodeGetVolumeStats after the restart", "NodeGetVolumeStats", v.stats_req(p1))
    check(any(u.unit == csi.VolumeUsage.BYTES and u.total > 0 for u in r.usage),
          "stats after the restart: %s" % r)
    ok("NodeGetVolumeStats after the restart: OK")
    v.stage("stage again after the restart (idempotent):")
    v.publish(p1, label="publish again after the restart (idempotent):")
    v.unpublish(p1)
    check(not os.path.lexists(p1), "unpublish after the restart: %s still exists" % p1)
    v.unstage()
    same_footprint(INITIAL, "unstage after the plugin restart")
    ok("unpublish and unstage after the plugin restart cleaned up fully")
    v.stage()
    v.publish(p1)
    verify_files(sums, "restaged after the plugin restart")


def storage_restart(v, p1, sums):
    """A writer fsyncs files on v1 while the storage server is killed and
    restarted on the same port; the writer must see no error.  Ends with
    v1 unstaged."""
    d = os.path.join(p1, "load")
    os.mkdir(d)
    written, errors, latency = {}, [], []
    progress = threading.Semaphore(0)

    def writer():
        try:
            for i in range(24):
                p = os.path.join(d, "w%d" % i)
                data = os.urandom(512 * 1024)
                t = time.time()
                write_file(p, data)
                latency.append(time.time() - t)
                written[p] = sha(data)
                progress.release()
                time.sleep(0.1)
            fsync_dir(d)
        except OSError as e:
            errors.append(e)
            progress.release()

    t = threading.Thread(target=writer)
    t.start()
    for _ in range(3):
        check(progress.acquire(timeout=60), "the writer made no progress before the kill")
    check(not errors, "the writer failed before the server was killed: %s" % errors)
    kill_and_wait("storage", signal.SIGKILL)
    killed_after = len(written)
    time.sleep(2)
    restart_storage()
    ok("storage server killed after %d files and restarted on the same port after 2 s" % killed_after)
    t.join(240)
    check(not t.is_alive(), "the writer is still blocked 4 minutes after the restart")
    check(not errors, "the writer saw an error: %s" % errors)
    check(killed_after < 24, "the writer had finished before the kill")
    ok("the writer saw no error: %d files of 512 KiB written and fsynced (slowest %.1f s)"
       % (len(written), max(latency)))
    logs = ""
    for dd, _, names in os.walk(STATE):
        for n in names:
            if n.endswith(".log"):
                logs += read(os.path.join(dd, n))
    check("reconnect" in logs, "no attach log under %s mentions a reconnect" % STATE)
    ok("the attach program reconnected")
    scan_secrets("after the storage restart", allow_secrets_dirs=True)
    v.unpublish(p1)
    v.unstage()
    same_footprint(INITIAL, "unstage after the storage restart")
    v.stage()
    v.publish(p1)
    verify_files({**sums, **written}, "after the storage restart, unstage and stage")
    v.unpublish(p1)
    v.unstage()
    same_footprint(INITIAL, "unstage v1 at the end")


def finish():
    same_footprint(INITIAL, "at the end")
    scan_secrets("at the end", allow_secrets_dirs=False)


def main():
    load_secret_patterns()
    connect()
    global INITIAL
    identity()
    INITIAL = footprint()
    if MODE == "nbd":
        v, p1, sums = lifecycle()
        v.unpublish(p1)
        v.unstage()
        same_footprint(INITIAL, "unstage v1 at the end")
        block()
    else:
        stage_errors()
        v, p1, sums = lifecycle()
        missing_fields(v, p1)
        xfs()
        block()
        psk()
        expansion(v, p1, sums)
        plugin_restart(v, p1, sums)
        storage_restart(v, p1, sums)
    finish()
    print("all CSI checks passed (%s)" % MODE, flush=True)


if __name__ == "__main__":
    main()
