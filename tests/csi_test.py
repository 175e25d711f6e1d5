#!/usr/bin/python3
# The checks of the CSI node plugin tests (tests/test-csi-*.sh, each a
# run of tests/test-csi.sh): a real gRPC client (Debian's grpcio, stubs
# that the shell generates from csi/csi.proto into $CSI_TEST_TMP/py)
# drives sealvol-csi-node as a CO would, against live TLS storage servers
# (nbdkit + the sealvol plugin).
#
#   csi_test.py GROUP...   identity, then each GROUP (see GROUPS below);
#                          "full" is every group of the FUSE attach path,
#                          "nbd" those of the kernel nbd-client path
#                          (SEALVOL_CSI_ATTACH=nbd)
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
#   CSI_TEST_ATTACH       fuse (sealvol-attach + loop) or nbd (nbd-client)
#   CSI_TEST_TERM_TIMEOUT how long the plugin may take to exit on SIGTERM
#                         (default 5 s)
#
# The groups, each run by the test named in brackets.  Every run starts
# with identity and ends with finish.
#   identity        GetPluginInfo name/version, plugin capabilities, Probe,
#                   exactly the three node capabilities, node id; Controller,
#                   GroupController and unknown methods are UNIMPLEMENTED; an
#                   undecodable request is refused and the plugin lives on
#   stage           [test-csi-stage] NOT_FOUND (no such export),
#                   UNAUTHENTICATED (rogue CA, untrusted or no client
#                   certificate), UNAVAILABLE (closed port),
#                   INVALID_ARGUMENT (no ca-cert/psk, bad psk, missing
#                   volume_context keys, btrfs9, relative path, no access
#                   type, UNKNOWN mode), FAILED_PRECONDITION (multi-node
#                   writer, blank volume reader-only); a volume id with ".."
#                   escapes nothing; none of them leaves a mount, loop
#                   device, attach program or state behind.  A PSK tenant
#                   (wrong PSK: UNAUTHENTICATED), paths with a space and a
#                   tab
#   lifecycle       [test-csi-lifecycle, test-csi-nbd] v1, ext4:
#                   stage/publish/unpublish/unstage each repeated,
#                   mountinfo, state modes, FAILED_PRECONDITION and
#                   ALREADY_EXISTS cases, files written, stats, full cleanup,
#                   restage with files intact, read-only publish (EROFS),
#                   reader-only stage; with FUSE also csi-sanity's
#                   missing-field and unknown-volume checks
#   xfs             [test-csi-xfs] fs_type xfs + noatime, ALREADY_EXISTS for
#                   ext4, no reformat, restage without fs_type, online
#                   expansion
#   block           [test-csi-block, test-csi-nbd] block device at the
#                   target, 1 MiB written, read back through the storage
#                   server and after a restage, read-only publish, expansion
#   expand          [test-csi-expand] OUT_OF_RANGE, idempotent; ext4 online
#                   growth
#   restart         [test-csi-restart] the plugin: SIGTERM with a client
#                   connected, restart, carry on; the storage server:
#                   SIGKILLed and restarted under a writer
#   targets         [test-csi-targets] isolated checks (below) of what the
#                   plugin accepts and touches:
#                   refuses_bad_ids_and_ports: a volume_id with a newline
#                     (all six Node calls), server port 0 or 70000:
#                     INVALID_ARGUMENT
#                   refuses_unsafe_mount_flags: mount flags with ',',
#                     blanks, '/', a leading '-', empty, over 4 KiB:
#                     INVALID_ARGUMENT, nothing left
#                   unpublish_leaves_foreign_targets: unpublish leaves
#                     alone what the plugin did not make: a regular file,
#                     a tmpfs mount point (volume never staged), a
#                     directory never published (volume staged)
#                   publish_refuses_wrong_target_kinds: publish refuses a
#                     target of the wrong kind (mount on a file or a
#                     symlink to a directory, block on a directory) and
#                     leaves it as it was
#                   non_canonical_paths: "<dir>/" and "<parent>//mount" are
#                     the same paths as their plain forms: idempotent,
#                     everything undone
#                   block_publish_flips_and_lost_mounts: block publish at
#                     the same target, readonly flipped: ALREADY_EXISTS; a
#                     read-only block target unmounted behind the plugin's
#                     back: unpublish and unstage OK, no loop device left
#                     (also unstage with no unpublish)
#   isolation       [test-csi-isolation] isolated checks of the plugin's
#                   processes and set-up:
#                   read_only_publish_and_attach_signals: a read-only
#                     publish keeps nosuid,nodev,noexec; sealvol-attach
#                     starts with no blocked signal (SIGHUP, which it
#                     blocks itself, aside) and SIGTERM not ignored, also
#                     from a plugin started with SIGTERM ignored
#                   silent_storage_host: a storage host that accepts and
#                     never answers: UNAVAILABLE or DEADLINE_EXCEEDED
#                     within 40 s, Probe OK
#                   state_dir_and_endpoint_setups: a second plugin with
#                     SEALVOL_CSI_STATE_DIR a symlink plus '/': a full
#                     lifecycle leaves nothing; a state dir owned by uid
#                     65534: exit 2, one line; CSI_ENDPOINT a regular file:
#                     non-zero exit, the file kept
#   attacks         [test-csi-attacks] isolated checks of attacks on the
#                   node plugin:
#                   one_export_stages_once: v1 staged from 127.0.0.1:P,
#                     then from localhost:P under another volume id:
#                     FAILED_PRECONDITION or ALREADY_EXISTS, nothing more
#                     attached or mounted; once the first is unstaged the
#                     second stages; a server with no export description
#                     (nbdkit memory): FAILED_PRECONDITION, nothing attached
#                   no_setuid_or_devices: the staging mount and the
#                     publishes (writable, read-only) are nosuid,nodev; a
#                     setuid-root program on the volume, run by nobody
#                     through each of them, prints euid 65534; a device
#                     node there cannot be opened (EACCES); a block
#                     publish is nosuid
#   finish          nothing left; no secret in any log or state file
#
# An isolated check runs on its own: a failure is recorded, what it made
# is undone (by the plugin, else by hand), and the rest go on; the run
# fails at the end with the list.
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
ATTACH = E.get("CSI_TEST_ATTACH", "fuse")
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


class CheckFailed(Exception):
    """A check failed; fail() has printed why."""


def fail(msg):
    print("FAIL: " + msg, flush=True)
    try:
        with open(LOG, errors="replace") as f:
            tail = f.readlines()[-25:]
        print("---- last lines of the plugin's log (%s):" % LOG)
        sys.stdout.write("".join(tail))
    except OSError:
        pass
    raise CheckFailed(msg)


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


def read_bytes(path):
    with open(path, "rb") as f:
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
    """Loop devices whose backing file is under TMP, and the loop devices
    over those (a read-only block publish puts one there)."""
    back = {}
    for d in os.listdir("/sys/block"):
        if not d.startswith("loop"):
            continue
        try:
            back[d] = read("/sys/block/%s/loop/backing_file" % d).strip()
        except OSError:
            continue
    out = {d for d, b in back.items() if b.startswith(TMP + "/")}
    while True:
        more = {d for d, b in back.items()
                if d not in out and b.startswith("/dev/") and b[5:] in out}
        if not more:
            return out
        out |= more


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
            # The same set as sealvol-csi-controller (the spec wants one
            # set per plugin), but no snapshot-metadata service.
            check(c.service.type in (S.CONTROLLER_SERVICE,
                                     S.VOLUME_ACCESSIBILITY_CONSTRAINTS),
                  "GetPluginCapabilities: service type %s"
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
    check(ATTACH == "nbd" or now["loops"] - before["loops"],
          "staged v1, but no loop device has its backing file under %s" % TMP)
    check(now["state"] - before["state"], "staged v1, but %s is empty" % STATE)
    ok("staged v1: an attach program, %s and state under %s"
       % ("an nbd device" if ATTACH == "nbd" else "a loop device", STATE))
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
    # The same export under a second volume id would mount one ext4 twice.
    twin = os.path.join(TMP, "staging", "v1-twin")
    os.makedirs(twin, exist_ok=True)
    staged = footprint()
    expect("stage v1's export under a second volume id", C.FAILED_PRECONDITION,
           "NodeStageVolume", v.stage_req(staging=twin, vid=v.id + "-twin"))
    check(not is_mountpoint(twin), "the second volume id's staging path was mounted")
    same_footprint(staged, "stage v1's export under a second volume id")
    ok("the same export under a second volume id: FAILED_PRECONDITION, nothing attached")

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
    """csi-sanity's missing-field checks with v1
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
    if ATTACH == "fuse" and resize_available():
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

    if ATTACH == "fuse" and resize_available():
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


# ========================================================= isolated checks
#
# Checks that each run on their own: a failure is recorded
# (ISOLATED_FAILED), what the check made is undone through the plugin and
# then by force, and the next check goes on.  main() fails the run at the
# end if any of them failed.

ISOLATED_FAILED = []              # (label, message)
ISOLATED_PASSED = []
SIGHUP_BIT = 1 << (signal.SIGHUP - 1)
SIGINT_BIT = 1 << (signal.SIGINT - 1)
SIGTERM_BIT = 1 << (signal.SIGTERM - 1)        # 0x4000


def soft(label, fn, *args):
    """Run the check FN; record whether it passed.  Returns that."""
    try:
        fn(*args)
    except CheckFailed as e:
        ISOLATED_FAILED.append((label, str(e)))
        print("---- check %s FAILED" % label, flush=True)
        return False
    ISOLATED_PASSED.append(label)
    ok("check %s passed" % label)
    return True


def quiet(name, req, timeout=60):
    """A cleanup call: its result does not matter."""
    return rpc(name, req, timeout=timeout)[0]


def run(*argv):
    return subprocess.run(list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def force_clean(before):
    """Undo by hand what the plugin left behind since BEFORE (a
    footprint): mounts, loop devices (those over loop devices first),
    FUSE files, attach programs, state entries."""
    def new_mounts(fuse):
        return [m["mp"] for m in reversed(mountinfo())
                if m["mp"].startswith(TMP + "/") and m["mp"] not in before["mounts"]
                and m["fstype"].startswith("fuse") == fuse]
    for mp in new_mounts(False):
        run("umount", mp) == 0 or run("umount", "-l", mp)
    for _ in range(3):
        loops = tmp_loops() - before["loops"]
        if not loops:
            break
        over = {d for d in loops
                if read("/sys/block/%s/loop/backing_file" % d).strip().startswith("/dev/")}
        for d in sorted(over or loops):
            run("losetup", "-d", "/dev/" + d)
        time.sleep(0.5)
    for mp in new_mounts(True):
        run("fusermount3", "-u", mp) == 0 or run("umount", "-l", mp)
    for pid in set(attach_procs()) - before["attach processes"]:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for e in state_entries() - before["state"]:
        if os.sep not in e:
            subprocess.run(["rm", "-rf", os.path.join(STATE, e)])


def isolated(label, body):
    """Run the group of checks BODY; then nothing it made may be left
    (it cleans up through the plugin itself, in finally blocks): what
    is, fails LABEL and is removed by hand."""
    before = footprint()
    try:
        body()
    except CheckFailed as e:
        ISOLATED_FAILED.append((label, str(e)))
    deadline = time.time() + 5
    while True:
        now = footprint()
        diff = {k: (sorted(before[k]), sorted(now[k])) for k in before if before[k] != now[k]}
        if not diff or time.time() > deadline:
            break
        time.sleep(0.2)
    if diff:
        msg = "left behind after cleaning up through the plugin: " + "; ".join(
            "%s was %s, now %s" % (k, b, n) for k, (b, n) in diff.items())
        print("FAIL: %s: %s" % (label, msg), flush=True)
        ISOLATED_FAILED.append((label + " (cleanup)", msg))
        force_clean(before)


def new_since(before):
    """What is on the node now and was not at BEFORE (a footprint):
    mounts under TMP, loop devices, attach programs."""
    now = footprint()
    return {k: sorted(set(now[k]) - set(before[k]))
            for k in ("mounts", "loops", "attach processes")}


def isolated_dir(name):
    d = os.path.join(TMP, "isolated", name)
    os.makedirs(d, exist_ok=True)
    return d


def file_id(path):
    st = os.lstat(path)
    return (st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode))


def mounts_at(path):
    return [m for m in mountinfo() if m["mp"] == path]


# ---- NodeUnpublishVolume never touches what the plugin did not create

def unpublish_leaves_foreign_targets():
    never = "pv-review-never-staged"

    def regular_file():
        f = os.path.join(isolated_dir("c1a"), "target")
        write_file(f, b"the CO's file, not the plugin's\n")
        ident = file_id(f)
        expect("1a: unpublish a volume never staged, target an existing regular file",
               C.OK, "NodeUnpublishVolume",
               csi.NodeUnpublishVolumeRequest(volume_id=never, target_path=f))
        check(os.path.lexists(f), "1a: unpublish of a volume never staged removed %s" % f)
        check(file_id(f) == ident and read(f) == "the CO's file, not the plugin's\n",
              "1a: unpublish of a volume never staged changed %s" % f)
        ok("1a: the regular file is still there with its content")

    def tmpfs_dir():
        d = os.path.join(isolated_dir("c1b"), "target")
        os.makedirs(d, exist_ok=True)
        check(run("mount", "-t", "tmpfs", "-o", "size=1m", "review-tmpfs", d) == 0,
              "1b: cannot mount a tmpfs on %s" % d)
        try:
            write_file(os.path.join(d, "inside"), b"x")
            expect("1b: unpublish a volume never staged, target a tmpfs mount point",
                   C.OK, "NodeUnpublishVolume",
                   csi.NodeUnpublishVolumeRequest(volume_id=never, target_path=d))
            m = mount_at(d)
            check(m is not None and m["fstype"] == "tmpfs",
                  "1b: unpublish of a volume never staged unmounted the tmpfs on %s (%s)"
                  % (d, "gone" if not os.path.lexists(d) else m))
            check(os.path.exists(os.path.join(d, "inside")), "1b: the tmpfs lost its file")
            ok("1b: the tmpfs is still mounted, its file there")
        finally:
            while mount_at(d) is not None and run("umount", d) == 0:
                pass

    def other_target():
        v = Vol("v1", mount_cap())
        p = target("c1c")
        u = os.path.join(isolated_dir("c1c"), "never-published")
        os.makedirs(u, exist_ok=True)
        ident = file_id(u)
        try:
            v.stage("1c: stage")
            v.publish(p, label="1c: publish")
            expect("1c: unpublish v1 at a directory where it was never published",
                   C.OK, "NodeUnpublishVolume", v.unpublish_req(u))
            check(os.path.lexists(u), "1c: unpublish at a target never published removed %s" % u)
            check(file_id(u) == ident and os.listdir(u) == [],
                  "1c: unpublish at a target never published changed %s" % u)
            check(is_mountpoint(p), "1c: v1 is no longer published at %s" % p)
            ok("1c: the directory is untouched; v1 still published at its own target")
        finally:
            quiet("NodeUnpublishVolume", v.unpublish_req(p))
            quiet("NodeUnstageVolume", v.unstage_req())

    soft("1a (unpublish never staged, regular file)", regular_file)
    soft("1b (unpublish never staged, tmpfs mount point)", tmpfs_dir)
    soft("1c (unpublish at a target never published)", other_target)


# ---- NodePublishVolume on a target of the wrong kind

def publish_refuses_wrong_target_kinds():
    def mount_on_file(v):
        t = os.path.join(isolated_dir("c2a"), "mount")
        write_file(t, b"not a directory\n")
        ident = file_id(t)
        code = expect("2a: publish (mount) where target_path is a regular file",
                      (C.INVALID_ARGUMENT, C.FAILED_PRECONDITION), "NodePublishVolume",
                      v.publish_req(t))
        print("     (2a answered %s)" % code.name, flush=True)
        check(os.path.lexists(t) and file_id(t) == ident and read(t) == "not a directory\n",
              "2a: the refused publish changed or removed the file %s" % t)
        check(not is_mountpoint(t), "2a: %s was mounted" % t)
        ok("2a: the file is untouched")

    def mount_on_symlink(v):
        dest = isolated_dir("c2b-dest")
        link = os.path.join(isolated_dir("c2b"), "mount")
        if not os.path.lexists(link):
            os.symlink(dest, link)
        try:
            expect("2b: publish (mount) where target_path is a symlink to a directory",
                   C.INVALID_ARGUMENT, "NodePublishVolume", v.publish_req(link))
            check(not is_mountpoint(dest), "2b: the publish mounted %s, the link's destination" % dest)
            check(os.path.islink(link) and os.readlink(link) == dest and os.path.isdir(dest),
                  "2b: the refused publish changed the symlink %s or its destination" % link)
            ok("2b: nothing mounted on the link's destination; link and destination untouched")
        finally:
            if is_mountpoint(dest):
                quiet("NodeUnpublishVolume", v.unpublish_req(link))
                while is_mountpoint(dest) and run("umount", dest) == 0:
                    pass

    def block_on_dir(vb):
        d = os.path.join(isolated_dir("c2c"), "dev")
        os.makedirs(d, exist_ok=True)
        ident = file_id(d)
        try:
            expect("2c: publish (block) where target_path is a directory",
                   C.INVALID_ARGUMENT, "NodePublishVolume", vb.publish_req(d))
            check(os.path.lexists(d) and file_id(d) == ident and os.listdir(d) == [],
                  "2c: the refused publish changed or removed the directory %s" % d)
            check(not is_mountpoint(d), "2c: %s was mounted" % d)
            ok("2c: the directory is untouched")
        finally:
            if is_mountpoint(d):
                quiet("NodeUnpublishVolume", vb.unpublish_req(d))

    v = Vol("v1", mount_cap())
    try:
        if soft("2: stage v1", v.stage):
            soft("2a (mount publish on a regular file)", mount_on_file, v)
            soft("2b (mount publish on a symlink to a directory)", mount_on_symlink, v)
    finally:
        quiet("NodeUnstageVolume", v.unstage_req())
    vb = Vol("vb", block_cap())
    try:
        if soft("2: stage vb (block)", vb.stage):
            soft("2c (block publish on a directory)", block_on_dir, vb)
    finally:
        quiet("NodeUnstageVolume", vb.unstage_req())


# ---- a staged volume's mount flags and its attach program

def attach_pid_for(state_dir):
    """The sealvol-attach working for a volume staged under STATE_DIR."""
    pids = [pid for pid, cmd in attach_procs().items()
            if state_dir in cmd and "sealvol-attach" in cmd.split()[0]]
    check(len(pids) == 1, "no single sealvol-attach process mentions %s: %s"
          % (state_dir, attach_procs()))
    return pids[0]


def signal_masks(pid):
    out = {}
    for line in open("/proc/%d/status" % pid):
        k, _, val = line.partition(":")
        if k in ("SigBlk", "SigIgn"):
            out[k] = int(val.strip(), 16)
    return out


def check_attach_signals(label, state_dir):
    """The attach program starts with no blocked signal and SIGTERM not
    ignored.  sealvol-attach blocks SIGHUP itself, in every thread but
    the one that sigwaits for it: that bit, and only that one, may be
    set in its main thread's mask."""
    pid = attach_pid_for(state_dir)
    m = signal_masks(pid)
    print("     (%s: sealvol-attach %d: SigBlk %016x SigIgn %016x)"
          % (label, pid, m["SigBlk"], m["SigIgn"]), flush=True)
    wrong = []
    if m["SigBlk"] & ~SIGHUP_BIT:
        wrong.append("runs with blocked signals SigBlk %016x%s (it blocks only SIGHUP "
                     "itself: the plugin passed its mask on)"
                     % (m["SigBlk"], " (SIGTERM among them)" if m["SigBlk"] & SIGTERM_BIT else ""))
    if m["SigIgn"] & SIGTERM_BIT:
        wrong.append("ignores SIGTERM (SigIgn %016x)" % m["SigIgn"])
    check(not wrong, "%s: sealvol-attach (pid %d) %s" % (label, pid, "; and ".join(wrong)))
    ok("%s: sealvol-attach %d: no blocked signal but its own SIGHUP, SIGTERM not ignored"
       % (label, pid))


def read_only_publish_and_attach_signals():
    flags = ["nosuid", "nodev", "noexec"]
    v = Vol("v1", mount_cap(flags=flags))
    p = target("c3")

    def readonly_publish():
        m = mount_at(v.staging)
        check(m and all(f in m["opts"] for f in flags),
              "3: the staging mount lacks nosuid,nodev,noexec: %s" % (m and m["opts"]))
        v.publish(p, readonly=True, label="3: publish read-only")
        m = mount_at(p)
        check(m is not None, "3: %s is not a mount point" % p)
        missing = [f for f in ["ro"] + flags if f not in m["opts"]]
        check(not missing, "3: the read-only publish at %s is mounted %s: lacks %s"
              % (p, ",".join(m["opts"]), ",".join(missing)))
        ok("3: read-only publish mounted %s" % ",".join(m["opts"]))

    try:
        if soft("3/8: stage v1 with nosuid,nodev,noexec", v.stage, "3: stage with nosuid,nodev,noexec"):
            soft("8 (sealvol-attach signal mask, main plugin)", check_attach_signals, "8",
                 STATE + "/")
            soft("3 (read-only publish keeps nosuid,nodev,noexec)", readonly_publish)
    finally:
        quiet("NodeUnpublishVolume", v.unpublish_req(p))
        quiet("NodeUnstageVolume", v.unstage_req())


# ---- mount flags that must never reach mount(8)

def refuses_unsafe_mount_flags():
    missing_dev = "/dev/sealvol-test-no-such-device"     # never a real disk
    cases = [
        ("a comma", "ext4", ["noexec,nosuid"]),
        ("a space", "ext4", ["noexec nosuid"]),
        ("a tab", "ext4", ["noatime\tnodev"]),
        ("a newline", "ext4", ["noatime\nnodev"]),
        ("a '/' (ext4 journal_path)", "ext4", ["journal_path=" + missing_dev]),
        ("a '/' (xfs logdev)", "xfs", ["logdev=" + missing_dev]),
        ("a leading '-'", "ext4", ["-v"]),
        ("an empty flag", "ext4", ["noatime", ""]),
        ("4100 bytes in all (41 flags of 100)", "ext4", ["x" * 100] * 41),
    ]

    def one(what, fs, flags):
        name = "vx" if fs == "xfs" else "v1"
        v = Vol(name, mount_cap(fs=fs, flags=flags))
        before = footprint()
        try:
            expect("4: stage %s with a mount flag holding %s" % (name, what),
                   C.INVALID_ARGUMENT, "NodeStageVolume", v.stage_req())
            check(not is_mountpoint(v.staging), "4: %s: %s was mounted" % (what, v.staging))
            same_footprint(before, "4: mount flag with %s" % what)
        finally:
            if is_mountpoint(v.staging) or state_entries() != before["state"]:
                quiet("NodeUnstageVolume", v.unstage_req())

    for what, fs, flags in cases:
        soft("4 (mount flag with %s)" % what, one, what, fs, flags)


# ---- a storage host that accepts and never answers

class SilentServer:
    """Listens on 127.0.0.1, accepts, and says nothing until closed."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.done = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.done:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.done = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.thread.join(5)


def silent_storage_host():
    v = Vol("v1", mount_cap())

    def silent():
        before = footprint()
        srv = SilentServer()
        try:
            ctx = v.context()
            ctx["server"] = "127.0.0.1:%d" % srv.port
            start = time.time()
            code, _, err = rpc("NodeStageVolume", v.stage_req(context=ctx), timeout=41)
            took = time.time() - start
            check(srv.conns, "5: the plugin never connected to the silent server")
            check(took < 40 and code in (C.UNAVAILABLE, C.DEADLINE_EXCEEDED),
                  "5: stage against a server that never answers: %s after %.1f s, "
                  "want UNAVAILABLE or DEADLINE_EXCEEDED within 40 s%s"
                  % (describe(code, err), took,
                     " (the client gave up: the plugin did not answer)" if took >= 40 else ""))
            ok("5: stage against a server that accepts and never answers -> %s after %.1f s"
               % (code.name, took))
            code, _, err = rpc("Probe", csi.ProbeRequest(), timeout=5)
            check(code == C.OK, "5: Probe right after: %s (the plugin is stuck?)" % describe(code, err))
            ok("5: Probe right after: OK")
            check(not is_mountpoint(v.staging), "5: %s was mounted" % v.staging)
            same_footprint(before, "5: stage against a silent server")
        finally:
            srv.close()
            # Free a plugin stuck on the silent server before going on.
            quiet("Probe", csi.ProbeRequest(), timeout=60)
            if state_entries() != before["state"]:
                quiet("NodeUnstageVolume", v.unstage_req())

    soft("5 (storage host accepts, never answers)", silent)


# ---- the same paths written differently

def non_canonical_paths():
    v = Vol("v1", mount_cap())
    v.staging = os.path.join(TMP, "staging", "c6")
    os.makedirs(v.staging, exist_ok=True)
    parent = os.path.dirname(target("c6"))
    plain_t = os.path.join(parent, "mount")
    slashes_t = parent + "//mount"
    slash_s = v.staging + "/"

    def paths():
        before = footprint()
        call_ok("6: stage with staging_target_path %s" % slash_s, "NodeStageVolume",
                v.stage_req(staging=slash_s))
        ms = mounts_at(v.staging)
        check(len(ms) == 1, "6: %s: %d mounts, want 1" % (v.staging, len(ms)))
        sid = staging_mount_id(v.staging)
        ok("6: stage at %s: %s is a mount point" % (slash_s, v.staging))
        call_ok("6: publish with target %s" % slashes_t, "NodePublishVolume",
                v.publish_req(slashes_t, staging=slash_s))
        check(len(mounts_at(plain_t)) == 1, "6: publish at %s: %s is not mounted once (%d)"
              % (slashes_t, plain_t, len(mounts_at(plain_t))))
        ok("6: publish at %s: %s is a mount point" % (slashes_t, plain_t))
        call_ok("6: stage again with the plain %s" % v.staging, "NodeStageVolume", v.stage_req())
        check(len(mounts_at(v.staging)) == 1 and staging_mount_id(v.staging) == sid,
              "6: the second stage (plain path) did not find the first: %s has %d mounts"
              % (v.staging, len(mounts_at(v.staging))))
        ok("6: stage again with the plain path: OK, the same mount")
        call_ok("6: publish again with the plain %s" % plain_t, "NodePublishVolume",
                v.publish_req(plain_t))
        check(len(mounts_at(plain_t)) == 1, "6: %s is mounted %d times, want once"
              % (plain_t, len(mounts_at(plain_t))))
        ok("6: publish again with the plain target: OK, mounted once")
        call_ok("6: unpublish with the plain target", "NodeUnpublishVolume", v.unpublish_req(plain_t))
        check(not os.path.lexists(plain_t), "6: unpublish (plain): %s still exists" % plain_t)
        call_ok("6: unstage with the plain staging path", "NodeUnstageVolume", v.unstage_req())
        check(not is_mountpoint(v.staging), "6: unstage (plain): %s still mounted" % v.staging)
        same_footprint(before, "6: unpublish and unstage with the plain paths")
        ok("6: unpublish and unstage with the plain paths: everything is gone")

    try:
        soft("6 (trailing slash, double slash)", paths)
    finally:
        for t in (plain_t, slashes_t):
            quiet("NodeUnpublishVolume", v.unpublish_req(t))
        for s in (v.staging, slash_s):
            quiet("NodeUnstageVolume", v.unstage_req(staging=s))


def staging_mount_id(path):
    ids = [line.split()[0] for line in open("/proc/self/mountinfo")
           if _unescape(line.split()[4]) == path]
    return ids[-1] if ids else None


# ---- block publishes

def block_publish_flips_and_lost_mounts():
    vb = Vol("vb", block_cap())

    def flip():
        t = os.path.join(isolated_dir("c10"), "dev")
        try:
            vb.publish(t, label="10: publish (block, writable)")
            rdev = os.stat(t).st_rdev
            expect("10: publish the block volume at the same target read-only",
                   C.ALREADY_EXISTS, "NodePublishVolume", vb.publish_req(t, readonly=True))
            check(is_mountpoint(t) and os.stat(t).st_rdev == rdev,
                  "10: the refused publish changed %s" % t)
            vb.unpublish(t, label="10: unpublish")
            vb.publish(t, readonly=True, label="10: publish (block, read-only)")
            rdev = os.stat(t).st_rdev
            expect("10: publish the block volume at the same target writable",
                   C.ALREADY_EXISTS, "NodePublishVolume", vb.publish_req(t, readonly=False))
            check(is_mountpoint(t) and os.stat(t).st_rdev == rdev,
                  "10: the refused publish changed %s" % t)
        finally:
            quiet("NodeUnpublishVolume", vb.unpublish_req(t))

    def no_loops_left(label):
        # The kernel lets go of a detached loop device a moment later.
        deadline = time.time() + 5
        while tmp_loops() - base and time.time() < deadline:
            time.sleep(0.2)
        left = tmp_loops() - base
        check(not left, "%s: loop devices left after the unstage: %s" % (label, ", ".join(
            "%s (on %s)" % (d, read("/sys/block/%s/loop/backing_file" % d).strip())
            for d in sorted(left))))

    def unmounted_behind():
        t = os.path.join(isolated_dir("c9"), "dev")
        vb.publish(t, readonly=True, label="9: publish (block, read-only)")
        check(stat.S_ISBLK(os.stat(t).st_mode), "9: %s is not a block device" % t)
        check(run("umount", t) == 0, "9: cannot unmount %s" % t)
        ok("9: unmounted %s behind the plugin's back" % t)
        call_ok("9: unpublish after the target was unmounted", "NodeUnpublishVolume",
                vb.unpublish_req(t))
        call_ok("9: unstage after that", "NodeUnstageVolume", vb.unstage_req())
        no_loops_left("9")
        ok("9: unpublish and unstage OK, no loop device left")

    def unstage_without_unpublish():
        # The same, but the CO goes straight to NodeUnstageVolume: the
        # plugin finishes the lost publication, read-only loop included.
        t = os.path.join(isolated_dir("c9b"), "dev")
        vb.stage("9b: stage again")
        vb.publish(t, readonly=True, label="9b: publish (block, read-only)")
        check(run("umount", t) == 0, "9b: cannot unmount %s" % t)
        call_ok("9b: unstage (no unpublish) after the target was unmounted", "NodeUnstageVolume",
                vb.unstage_req())
        no_loops_left("9b")
        ok("9b: unstage OK, no loop device left")

    base = tmp_loops()
    try:
        if soft("9/10: stage vb (block)", vb.stage, "9/10: stage"):
            soft("10 (block publish again with readonly flipped)", flip)
            soft("9 (read-only block target unmounted behind the plugin's back)", unmounted_behind)
            soft("9b (the same, unstaged without an unpublish)", unstage_without_unpublish)
    finally:
        for leaf in ("c9", "c9b", "c10"):
            quiet("NodeUnpublishVolume", vb.unpublish_req(os.path.join(TMP, "isolated", leaf, "dev")))
        quiet("NodeUnstageVolume", vb.unstage_req())


# ---- a volume id with a newline; ports out of range

def refuses_bad_ids_and_ports():
    v = Vol("v1", mount_cap())
    vid = "pv-acme-v1\nsecond-line"
    t = target("c11")

    def newline():
        before = footprint()
        pub = v.publish_req(t)
        pub.volume_id = vid
        unpub = v.unpublish_req(t)
        unpub.volume_id = vid
        unst = v.unstage_req()
        unst.volume_id = vid
        stats = v.stats_req(v.staging)
        stats.volume_id = vid
        exp = v.expand_req(v.staging, 256 * MiB)
        exp.volume_id = vid
        wrong = []
        for name, req in [("NodeStageVolume", v.stage_req(vid=vid)), ("NodePublishVolume", pub),
                          ("NodeUnpublishVolume", unpub), ("NodeUnstageVolume", unst),
                          ("NodeGetVolumeStats", stats), ("NodeExpandVolume", exp)]:
            code, _, err = rpc(name, req)
            if code != C.INVALID_ARGUMENT:
                wrong.append("%s -> %s" % (name, describe(code, err)))
            if name == "NodeStageVolume" and code == C.OK:
                quiet("NodeUnstageVolume", unst)
        check(not wrong, "11: a volume_id with a newline, want INVALID_ARGUMENT: " + "; ".join(wrong))
        ok("11: a volume_id with a newline -> INVALID_ARGUMENT from all six Node calls")
        same_footprint(before, "11: volume_id with a newline")

    def port(server):
        before = footprint()
        ctx = v.context()
        ctx["server"] = server
        try:
            expect("11: stage with server %s" % server, C.INVALID_ARGUMENT, "NodeStageVolume",
                   v.stage_req(context=ctx))
            same_footprint(before, "11: server %s" % server)
        finally:
            if state_entries() != before["state"]:
                quiet("NodeUnstageVolume", v.unstage_req())

    soft("11 (volume_id with a newline)", newline)
    soft("11 (server 127.0.0.1:0)", port, "127.0.0.1:0")
    soft("11 (server 127.0.0.1:70000)", port, "127.0.0.1:70000")


# ---- a second plugin: the state directory through a symlink; bad set-ups

class OtherPlugin:
    """A second sealvol-csi-node, configured as the first but for the
    environment given, its socket under TMP; used as the plugin by
    rpc() and its friends inside a with block."""

    def __init__(self, name, env, ignore_sigterm=False):
        with open(os.path.join(RUN, "csi.argv"), "rb") as f:
            argv = [a.decode() for a in f.read().split(b"\0")[:-1]]
        self.base_env = dict(os.environ)
        if argv[0] == "env" or argv[0].endswith("/env"):
            argv = argv[1:]
        while argv and "=" in argv[0] and not argv[0].startswith("/"):
            k, _, val = argv.pop(0).partition("=")
            self.base_env[k] = val
        self.program = argv[0]
        self.name = name
        self.log = os.path.join(TMP, name + ".log")
        self.socket = os.path.join(TMP, name, "csi.sock")
        os.makedirs(os.path.dirname(self.socket), exist_ok=True)
        self.env = dict(self.base_env, CSI_ENDPOINT="unix://" + self.socket, **env)
        self.ignore_sigterm = ignore_sigterm
        self.proc = None

    def run_once(self, timeout=5, **env):
        """Run the plugin with ENV on top; (status or None if it was still
        running after TIMEOUT, stderr)."""
        e = dict(self.env, **env)
        try:
            r = subprocess.run([self.program], env=e, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=timeout)
        except subprocess.TimeoutExpired as x:
            return None, (x.stderr or b"").decode(errors="replace")
        return r.returncode, r.stderr.decode(errors="replace")

    def __enter__(self):
        def pre():
            if self.ignore_sigterm:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([self.program], env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, start_new_session=True,
                                         preexec_fn=pre)
        with open(os.path.join(RUN, self.name + ".pid"), "w") as f:
            f.write("%d\n" % self.proc.pid)
        deadline = time.time() + 10
        while not os.path.exists(self.socket):
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                fail("%s did not start: %s" % (self.name, read(self.log)[-500:]))
            time.sleep(0.05)
        global CH, IDENT, NODE, LOG
        self.saved = (CH, IDENT, NODE, LOG)
        CH = grpc.insecure_channel("unix://" + self.socket)
        IDENT = csi_grpc.IdentityStub(CH)
        NODE = csi_grpc.NodeStub(CH)
        LOG = self.log
        return self

    def __exit__(self, *exc):
        global CH, IDENT, NODE, LOG
        CH.close()
        CH, IDENT, NODE, LOG = self.saved
        self.stop()
        return False

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            print("     (%s did not exit within 5 s of SIGTERM: killed)" % self.name, flush=True)
            self.proc.kill()
            self.proc.wait()


def state_dir_and_endpoint_setups():
    real = os.path.join(TMP, "state-real")
    os.makedirs(real, mode=0o700, exist_ok=True)
    link = os.path.join(TMP, "state-link")
    if not os.path.lexists(link):
        os.symlink(real, link)
    other = OtherPlugin("csi2", {"SEALVOL_CSI_STATE_DIR": link + "/"}, ignore_sigterm=True)

    def lifecycle_via_link():
        v = Vol("v1", mount_cap())
        v.staging = os.path.join(TMP, "staging", "c7")
        os.makedirs(v.staging, exist_ok=True)
        p = target("c7")
        before = footprint()
        with other:
            try:
                call_ok("7: Probe (state dir %s/)" % link, "Probe", csi.ProbeRequest())
                v.stage("7: stage (state dir through a symlink)")
                v.publish(p, label="7: publish")
                write_files(p, [65536])
                soft("8 (sealvol-attach signal mask, plugin started with SIGTERM ignored)",
                     check_attach_signals, "8 (SIGTERM ignored)", TMP + "/state-")
                v.unpublish(p, label="7: unpublish")
                v.unstage("7: unstage")
                deadline = time.time() + 5
                while True:
                    left = new_since(before)
                    left["state"] = sorted(os.listdir(real))
                    if not any(left.values()) or time.time() > deadline:
                        break
                    time.sleep(0.2)
                check(not any(left.values()),
                      "7: a full lifecycle with SEALVOL_CSI_STATE_DIR=%s/ (a symlink) left: %s"
                      % (link, "; ".join("%s %s" % (k, val) for k, val in left.items() if val)))
                ok("7: full lifecycle through a symlinked state dir: no loop device, FUSE mount, "
                   "attach program or state left")
            finally:
                quiet("NodeUnpublishVolume", v.unpublish_req(p))
                quiet("NodeUnstageVolume", v.unstage_req())
        if any(new_since(before).values()):
            force_clean(before)
            subprocess.run(["rm", "-rf"] + [os.path.join(real, n) for n in os.listdir(real)])

    def foreign_state_dir():
        d = os.path.join(TMP, "state-nobody")
        os.makedirs(d, exist_ok=True)
        os.chown(d, 65534, 65534)
        os.chmod(d, 0o755)
        status, err = other.run_once(SEALVOL_CSI_STATE_DIR=d)
        lines = err.strip("\n").split("\n") if err.strip() else []
        check(status == 2 and len(lines) == 1,
              "7: SEALVOL_CSI_STATE_DIR owned by uid 65534: %s, %d line(s) on stderr, want "
              "exit 2 and one line: %r" % ("still running after 5 s" if status is None
                                           else "exit %d" % status, len(lines), err[-300:]))
        ok("7: a state dir owned by another uid: exit 2: %s" % lines[0])

    def endpoint_file():
        f = os.path.join(TMP, "x.sock")
        write_file(f, b"a regular file\n")
        ident = file_id(f)
        status, err = other.run_once(CSI_ENDPOINT="unix://" + f,
                                     SEALVOL_CSI_STATE_DIR=os.path.join(TMP, "state-x"))
        check(status not in (None, 0),
              "7: CSI_ENDPOINT naming a regular file: %s, want a non-zero exit"
              % ("still running after 5 s" if status is None else "exit 0"))
        check(os.path.lexists(f) and file_id(f) == ident and read(f) == "a regular file\n",
              "7: CSI_ENDPOINT naming a regular file: the plugin %s it"
              % ("removed" if not os.path.lexists(f) else "replaced"))
        ok("7: CSI_ENDPOINT naming a regular file: exit %d, the file is still there: %s"
           % (status, err.strip().split("\n")[-1]))

    soft("7 (lifecycle with the state dir through a symlink, trailing slash)", lifecycle_via_link)
    soft("7 (state dir owned by another uid)", foreign_state_dir)
    soft("7 (CSI_ENDPOINT names a regular file)", endpoint_file)


# ------------------------------------------------------------------ attacks
# Attacks on the node plugin, each done as an attacker would: one export
# mounted twice, setuid programs and device nodes on a volume.


def one_export_stages_once():
    """One export staged under two volume ids, its server spelled
    127.0.0.1:P and localhost:P, would mount one ext4 twice (and lose
    files): the second stage is refused, whatever the spelling."""
    port = SERVER.rpartition(":")[2]
    a = Vol("v1", mount_cap(), server="127.0.0.1:" + port)
    b = Vol("v1", mount_cap(), server="localhost:" + port)
    a.id, a.staging = "pv-14-2-by-address", isolated_dir("14-2-by-address")
    b.id, b.staging = "pv-14-2-by-name", isolated_dir("14-2-by-name")

    def twice():
        a.stage("14.2: stage v1 from 127.0.0.1:%s" % port)
        staged = footprint()
        expect("14.2: stage v1 from localhost:%s under another volume id" % port,
               (C.FAILED_PRECONDITION, C.ALREADY_EXISTS), "NodeStageVolume", b.stage_req())
        check(not is_mountpoint(b.staging),
              "14.2: v1 is mounted twice, at %s and %s" % (a.staging, b.staging))
        same_footprint(staged, "14.2: the refused second stage")
        ok("14.2: the second spelling is refused; nothing attached or mounted twice")
        a.unstage("14.2: unstage the first")
        b.stage("14.2: with the first unstaged, the second stages")
        b.unstage("14.2: unstage the second")

    try:
        soft("14.2 (one volume staged twice under two spellings of its server)", twice)
        soft("14.2 (a server that states no identity)", anonymous_server)
    finally:
        for v in (b, a):
            quiet("NodeUnstageVolume", v.unstage_req())


def anonymous_server():
    """An NBD server with no export description (nbdkit memory, as an
    older sealvol plugin would be): its export is not attached unchecked."""
    port = free_port()
    ready = os.path.join(RUN, "anonymous.ready")
    v = Vol("v1", mount_cap(), server="127.0.0.1:%d" % port)
    v.id, v.staging = "pv-14-2-anonymous", isolated_dir("14-2-anonymous")
    p = subprocess.Popen(["nbdkit", "-f", "-i", "127.0.0.1", "-p", str(port), "-P", ready,
                          "--tls=require", "--tls-certificates=" + os.path.join(PKI, "server"),
                          "--tls-verify-peer", "memory", "64M"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 10
        while not os.path.exists(ready) or os.path.getsize(ready) == 0:
            check(p.poll() is None and time.time() < deadline,
                  "14.2: nbdkit memory did not start on port %d" % port)
            time.sleep(0.05)
        before = footprint()
        expect("14.2: stage from a server that states no volume identity",
               C.FAILED_PRECONDITION, "NodeStageVolume", v.stage_req())
        same_footprint(before, "14.2: the refused stage from a server with no identity")
    finally:
        quiet("NodeUnstageVolume", v.unstage_req())    # while its server still answers
        p.kill()
        p.wait()


EUID_SOURCE = b"""#include <stdio.h>
#include <unistd.h>
int main (void) { printf ("%u\\n", (unsigned) geteuid ()); return 0; }
"""


def euid_program():
    """A program that prints its effective uid, built once."""
    exe = os.path.join(TMP, "print-euid")
    if not os.path.exists(exe):
        write_file(exe + ".c", EUID_SOURCE)
        r = subprocess.run(["gcc", "-o", exe, exe + ".c"], capture_output=True, text=True)
        check(r.returncode == 0, "cannot build %s with gcc: %s" % (exe, r.stderr.strip()))
    return exe


def euid_as_nobody(path):
    """Run PATH as uid and gid 65534; what it prints.  By descriptor
    (/proc/self/fd/N): nobody may not enter the test's 0700 directories,
    and an exec by descriptor still obeys the file's mount's nosuid."""
    fd = os.open(path, os.O_RDONLY)
    try:
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "/proc/self/fd/%d" % fd], pass_fds=(fd,), capture_output=True,
                           text=True, timeout=30)
    finally:
        os.close(fd)
    check(r.returncode == 0, "running %s as nobody failed (%d): %s"
          % (path, r.returncode, r.stderr.strip()))
    return r.stdout.strip()


def plant_setuid_and_device(d):
    """What a tenant could leave on its volume (mounted at D): a
    setuid-root program and a device node (1:3, /dev/null's)."""
    exe = os.path.join(d, "setuid-root")
    write_file(exe, read_bytes(euid_program()))
    os.chown(exe, 0, 0)
    os.chmod(exe, 0o4755)             # after chown, which clears the bit
    os.mknod(os.path.join(d, "null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))


def refuses_setuid_and_devices(label, d):
    """Through the mount at D: the setuid-root program run by nobody
    keeps euid 65534, and the device node cannot be opened."""
    euid = euid_as_nobody(os.path.join(d, "setuid-root"))
    check(euid == "65534", "%s: a setuid-root program run by nobody got euid %s" % (label, euid))
    ok("%s: a setuid-root program run by nobody keeps euid 65534" % label)
    dev = os.path.join(d, "null")
    try:
        os.close(os.open(dev, os.O_WRONLY))
        fail("%s: a device node on the volume (%s, 1:3) opened" % (label, dev))
    except OSError as e:
        check(e.errno == errno.EACCES, "%s: opening a device node on the volume: %s" % (label, e))
    ok("%s: a device node on the volume cannot be opened (EACCES)" % label)


def mounted_with(label, path, flags):
    m = mount_at(path)
    check(m is not None, "%s: %s is not a mount point" % (label, path))
    missing = [f for f in flags if f not in m["opts"]]
    check(not missing, "%s: %s is mounted %s: lacks %s"
          % (label, path, ",".join(m["opts"]), ",".join(missing)))
    ok("%s: %s is mounted %s" % (label, path, ",".join(m["opts"])))


def no_setuid_or_devices():
    """A setuid-root binary on a volume never gives nobody euid 0: every
    mount of a filesystem volume is nosuid,nodev; a block volume's device
    node is bound nosuid (nodev would make the device unusable)."""
    v = Vol("v1", mount_cap())
    v.id, v.staging = "pv-14-6", isolated_dir("14-6-staging")
    vb = Vol("vb", block_cap())
    vb.id, vb.staging = "pv-14-6-block", isolated_dir("14-6-block-staging")
    rw, ro, dev = target("14-6-rw"), target("14-6-ro"), target("14-6-block", "dev")

    def filesystem():
        v.stage("14.6: stage v1 (no mount flags)")
        v.publish(rw, label="14.6: publish")
        plant_setuid_and_device(rw)
        refuses_setuid_and_devices("14.6: through the publish", rw)
        refuses_setuid_and_devices("14.6: through the staging mount", v.staging)
        mounted_with("14.6: staging mount", v.staging, ["nosuid", "nodev"])
        mounted_with("14.6: publish", rw, ["nosuid", "nodev"])
        v.unpublish(rw, label="14.6: unpublish")
        v.publish(ro, readonly=True, label="14.6: publish read-only")
        mounted_with("14.6: read-only publish", ro, ["ro", "nosuid", "nodev"])
        refuses_setuid_and_devices("14.6: through the read-only publish", ro)

    def block():
        vb.stage("14.6: stage vb (block)")
        vb.publish(dev, label="14.6: publish vb")
        mounted_with("14.6: block publish", dev, ["nosuid"])

    try:
        soft("14.6 (setuid and device files on a filesystem volume)", filesystem)
        soft("14.6 (a block volume's device node bound nosuid)", block)
    finally:
        for vol, t in ((v, rw), (v, ro), (vb, dev)):
            quiet("NodeUnpublishVolume", vol.unpublish_req(t))
        for vol in (v, vb):
            quiet("NodeUnstageVolume", vol.unstage_req())


def published_v1():
    """v1 (ext4) staged and published at pods/p1/mount, files written
    there: what the expand and restart groups start from."""
    v = Vol("v1", mount_cap())
    v.stage()
    p1 = target("p1")
    v.publish(p1)
    sums = write_files(p1, [1, 4096, 65537, 1 * MiB + 7, 3 * MiB, 123457, 0, 2 * MiB])
    ok("wrote %d files in %s" % (len(sums), p1))
    return v, p1, sums


def unstage_v1(v, p1):
    v.unpublish(p1)
    v.unstage()
    same_footprint(INITIAL, "unstage v1 at the end")


def run_isolated(title, checks):
    print("---- %s" % title, flush=True)
    for body in checks:
        isolated(body.__name__.replace("_", " "), body)


def group_stage():
    stage_errors()
    psk()


def group_lifecycle():
    v, p1, sums = lifecycle()
    if ATTACH == "fuse":
        missing_fields(v, p1)
    unstage_v1(v, p1)


def group_expand():
    v, p1, sums = published_v1()
    expansion(v, p1, sums)
    unstage_v1(v, p1)


def group_restart():
    v, p1, sums = published_v1()
    plugin_restart(v, p1, sums)
    storage_restart(v, p1, sums)        # ends with v1 unstaged


def group_targets():
    run_isolated("what the plugin accepts and touches", [
        refuses_bad_ids_and_ports, refuses_unsafe_mount_flags,
        unpublish_leaves_foreign_targets, publish_refuses_wrong_target_kinds,
        non_canonical_paths, block_publish_flips_and_lost_mounts])


def group_isolation():
    run_isolated("the plugin's processes and set-up", [
        read_only_publish_and_attach_signals, silent_storage_host,
        state_dir_and_endpoint_setups])


def group_attacks():
    run_isolated("attacks on the node plugin", [one_export_stages_once, no_setuid_or_devices])


GROUPS = {
    "stage": group_stage,
    "lifecycle": group_lifecycle,
    "xfs": xfs,
    "block": block,
    "expand": group_expand,
    "restart": group_restart,
    "targets": group_targets,
    "isolation": group_isolation,
    "attacks": group_attacks,
}
ALIASES = {
    "full": ["stage", "lifecycle", "xfs", "block", "expand", "restart", "targets", "isolation"],
    "nbd": ["lifecycle", "block"],
}


def finish():
    same_footprint(INITIAL, "at the end")
    scan_secrets("at the end", allow_secrets_dirs=False)


def main():
    names = [g for arg in sys.argv[1:] or ["full"] for g in ALIASES.get(arg, [arg])]
    unknown = [g for g in names if g not in GROUPS]
    if unknown:
        sys.exit("csi_test.py: no such group: %s (groups: %s)"
                 % (" ".join(unknown), " ".join(list(GROUPS) + list(ALIASES))))
    load_secret_patterns()
    connect()
    global INITIAL
    try:
        identity()
        INITIAL = footprint()
        for name in names:
            print("==== %s" % name, flush=True)
            GROUPS[name]()
        finish()
    except CheckFailed:
        sys.exit(1)
    finally:
        if ISOLATED_FAILED or ISOLATED_PASSED:
            print("---- isolated checks: %d passed, %d failed"
                  % (len(ISOLATED_PASSED), len(ISOLATED_FAILED)), flush=True)
            for label, msg in ISOLATED_FAILED:
                print("FAILED %s: %s" % (label, msg), flush=True)
    if ISOLATED_FAILED:
        sys.exit(1)
    print("all CSI checks passed (%s)" % " ".join(names), flush=True)


if __name__ == "__main__":
    main()
