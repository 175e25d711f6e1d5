#!/usr/bin/python3
"""sealvol benchmark: sealvol against the limit (nbdkit file) and the peer
(nbdkit file + luks filter), in one run, on the same backing size.

Each server is started on a Unix socket, driven by fio's nbd engine (4 KiB
random read and write, 1 MiB sequential read and write, queue depth 32, one
job) and by nbdcopy, and stopped.  The table gives IOPS, MiB/s, p99 latency,
the server's peak RSS and CPU seconds, and every row's ratio to plain file
and to luks.

Dirty data is written back (sync) after every writing test, so no test
runs during the writeback of the one before.

On a shared machine the speed drifts over minutes, and a server measured
later than plain file would carry the drift into its ratio.  So the whole
set is measured --rounds times, each round starting one server further
along, and every figure is the median over the rounds (peak RSS: the
maximum).

usage: bench/bench.py [--size 1G] [--runtime 6] [--rounds 3] [--ciphers ...]
                      [--io uring] [--quick]

--quick (for use while developing, under 3 minutes): 128 MiB, 2 s per
test, one round; same table, wider error bars.  Explicit --size,
--runtime and --rounds still win.
"""
import argparse, json, os, shutil, signal, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
SEALVOL = os.path.join(TOP, "sealvol")
PLUGIN = os.path.join(TOP, ".libs", "nbdkit-sealvol-plugin.so")
CIPHERS = ["aes-256-xts", "aes-256-gcm", "xchacha20-poly1305"]
JOBS = [  # name, fio rw, block size, what the column reports
    ("4k-randread", "randread", "4k", "iops"),
    ("4k-randwrite", "randwrite", "4k", "iops"),
    ("1m-read", "read", "1m", "mibs"),
    ("1m-write", "write", "1m", "mibs"),
]
LUKS_PASS = "bench-only-passphrase"


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


class Server:
    """One nbdkit process on a Unix socket, with its resource usage."""

    def __init__(self, name, argv, sock, export=""):
        self.name, self.sock, self.export = name, sock, export
        if os.path.exists(sock):        # the same server's, from a round before
            os.unlink(sock)
        self.log = open(sock + ".log", "a")
        self.proc = subprocess.Popen(["nbdkit", "-f", "-U", sock] + argv,
                                     stderr=self.log)
        for _ in range(100):
            if os.path.exists(sock):
                return
            if self.proc.poll() is not None:
                raise RuntimeError("%s did not start: %s" % (name, open(sock + ".log").read()))
            time.sleep(0.05)
        raise RuntimeError("%s did not create its socket" % name)

    def uri(self):
        return "nbd+unix:///%s?socket=%s" % (self.export, self.sock)

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def fio(uri, rw, bs, size, runtime):
    out = subprocess.run(
        ["fio", "--name=bench", "--ioengine=nbd", "--uri=" + uri,
         "--rw=" + rw, "--bs=" + bs, "--iodepth=32", "--numjobs=1",
         "--size=" + str(size), "--time_based", "--runtime=%d" % runtime,
         "--ramp_time=1", "--output-format=json"],
        check=True, capture_output=True, text=True).stdout
    job = json.loads(out[out.index("{"):])["jobs"][0]
    side = job["read"] if "read" in rw else job["write"]
    p99 = side["clat_ns"]["percentile"].get("99.000000", 0) / 1000.0
    return {"iops": side["iops"], "mibs": side["bw_bytes"] / 2**20, "p99_us": p99}


def nbdcopy_mibs(src, dst, size):
    t = time.monotonic()
    run(["nbdcopy", src, dst])
    return size / 2**20 / (time.monotonic() - t)


def prepare(tmp, size, ciphers):
    """Backing stores: a plain file, a LUKS image, sealvol volumes."""
    plain = os.path.join(tmp, "plain.img")
    with open(plain, "wb") as f:
        f.truncate(size)
    luks = os.path.join(tmp, "luks.img")
    run(["qemu-img", "create", "-q", "-f", "luks",
         "--object", "secret,id=sec0,data=" + LUKS_PASS,
         "-o", "key-secret=sec0", luks, str(size)])
    root = os.path.join(tmp, "root")
    run([SEALVOL, "--root", root, "tenant", "create", "bench"], stdout=subprocess.DEVNULL)
    for c in ciphers:
        # No QoS limits: this measures the data path, not the throttle.
        run([SEALVOL, "--root", root, "volume", "create", "bench/" + c,
             "--size", str(size), "--cipher", c, "--service-type", "unlimited"],
            stdout=subprocess.DEVNULL)
    src = os.path.join(tmp, "source.img")
    with open(src, "wb") as f:
        for _ in range(size // 2**20):
            f.write(os.urandom(2**20))
    return plain, luks, root, src


def servers(tmp, plain, luks, root, ciphers, io):
    yield "file", ["file", plain], ""
    yield "file+luks", ["file", luks, "--filter=luks", "passphrase=" + LUKS_PASS], ""
    for c in ciphers:
        yield "sealvol " + c, [PLUGIN, "root=" + root, "tenant=bench", "io=" + io], c


def settle():
    """Write back all dirty data before the next test.  sealvol flushes a
    volume when its last client leaves (its clean-close rule) and plain
    file never does; without this the next test of file would run during
    the writeback of the last one's gigabyte, and sealvol's right after
    its own: the first read pass after nbdcopy-in measured 0.15x file for
    that reason alone."""
    time.sleep(0.5)             # let the server see the client leave
    os.sync()


def measure(name, argv, export, tmp, src, size, runtime):
    sock = os.path.join(tmp, "s%d.sock" % abs(hash(name)))
    srv = Server(name, argv, sock, export)
    try:
        row = {}
        # Fill the device first so reads read real (authenticated) data.
        row["nbdcopy-in"] = nbdcopy_mibs(src, srv.uri(), size)
        settle()
        row["nbdcopy-out"] = nbdcopy_mibs(srv.uri(), "null:", size)
        for job, rw, bs, _ in JOBS:
            row[job] = fio(srv.uri(), rw, bs, size, runtime)
            settle()
        row["rss"] = srv.peak_rss_mib()
        row["cpu"] = srv.cpu_seconds()
    finally:
        srv.stop()
    return row


def median_row(rounds):
    """One row from several rounds' rows: medians, peak RSS the maximum."""
    row = {}
    for key, first in rounds[0].items():
        if key == "rss":
            row[key] = max(r[key] for r in rounds)
        elif isinstance(first, dict):
            row[key] = {k: statistics.median(r[key][k] for r in rounds) for k in first}
        else:
            row[key] = statistics.median(r[key] for r in rounds)
    return row


def crypto_speeds():
    """OpenSSL's own speed for each cipher on 4 KiB messages, one core, in
    the same run: the ceiling for the encrypting rows' 1 MiB figures."""
    out = {}
    for name, evp in (("aes-256-gcm", "aes-256-gcm"), ("xchacha20-poly1305", "chacha20-poly1305"),
                      ("aes-256-xts", "aes-256-xts")):
        r = subprocess.run(["openssl", "speed", "-evp", evp, "-bytes", "4096", "-seconds", "2"],
                           capture_output=True, text=True)
        last = [l for l in r.stdout.splitlines() if l.strip()][-1:]
        try:
            out[name] = float(last[0].split()[-1].rstrip("k")) * 1000 / 2**20
        except (IndexError, ValueError):
            out[name] = 0.0
    return out


def print_table(rows):
    base, peer = rows.get("file"), rows.get("file+luks")
    print()
    print("%-28s %12s %10s %10s %8s %9s %8s %8s" %
          ("server / test", "IOPS", "MiB/s", "p99 us", "RSS MiB", "CPU s", "x file", "x luks"))
    for name, row in rows.items():
        for job, _, _, key in JOBS:
            r = row[job]
            rb = base[job][key] if base else 0
            rp = peer[job][key] if peer else 0
            print("%-28s %12.0f %10.1f %10.0f %8.1f %9.1f %8.2f %8.2f" %
                  (name + " " + job, r["iops"], r["mibs"], r["p99_us"],
                   row["rss"], row["cpu"],
                   r[key] / rb if rb else 0, r[key] / rp if rp else 0))
        for job in ("nbdcopy-in", "nbdcopy-out"):
            rb = base[job] if base else 0
            rp = peer[job] if peer else 0
            print("%-28s %12s %10.1f %10s %8s %9s %8.2f %8.2f" %
                  (name + " " + job, "", row[job], "", "", "",
                   row[job] / rb if rb else 0, row[job] / rp if rp else 0))


def check_targets(rows):
    """product.md's targets, as ratios to plain file and to luks."""
    verdicts = []
    base, peer = rows["file"], rows["file+luks"]
    for name, row in rows.items():
        if not name.startswith("sealvol "):
            continue
        cipher = name.split()[1]
        big = 0.80 if cipher == "aes-256-xts" else 0.65
        for job, _, _, key in JOBS:
            ratio = row[job][key] / base[job][key]
            want = big if job.startswith("1m") else 0.85
            verdicts.append((name, job, "x file", ratio, want))
            if job.startswith("1m"):
                verdicts.append((name, job, "x luks", row[job][key] / peer[job][key], 2.0))
    print()
    print("targets (product.md):")
    fails = 0
    for name, job, what, ratio, want in verdicts:
        ok = ratio >= want
        fails += not ok
        print("  %-4s %-28s %-13s %s %.2f (target >= %.2f)" %
              ("PASS" if ok else "MISS", name, job, what, ratio, want))
    return fails


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size")
    ap.add_argument("--runtime", type=int)
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--quick", action="store_true",
                    help="128M, 2 s per test, one round (under 3 minutes)")
    ap.add_argument("--ciphers", nargs="+", default=CIPHERS)
    ap.add_argument("--io", default="uring", choices=["uring", "sync"])
    ap.add_argument("--only", nargs="*", help="server names to run (default all)")
    a = ap.parse_args()
    quick = {"size": "128M", "runtime": 2, "rounds": 1}
    full = {"size": "1G", "runtime": 6, "rounds": 3}
    for k, v in (quick if a.quick else full).items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    units = {"K": 10, "M": 20, "G": 30}
    size = int(a.size[:-1]) << units[a.size[-1]] if a.size[-1] in units else int(a.size)
    for tool in ("nbdkit", "fio", "nbdcopy", "qemu-img"):
        if not shutil.which(tool):
            sys.exit("bench: %s is not installed (run scripts/install-deps.sh)" % tool)
    tmp = tempfile.mkdtemp(prefix="sealvol-bench.")
    try:
        plain, luks, root, src = prepare(tmp, size, a.ciphers)
        print("sealvol bench: %s backing, fio nbd engine iodepth 32, %ds per test, io=%s, "
              "median of %d rounds, %s, %d cores" %
              (a.size, a.runtime, a.io, a.rounds, time.strftime("%Y-%m-%d"), os.cpu_count()))
        chosen = [s for s in servers(tmp, plain, luks, root, a.ciphers, a.io)
                  if not a.only or s[0] in a.only or s[0].split()[-1] in a.only]
        results = {name: [] for name, _, _ in chosen}
        for r in range(a.rounds):
            k = r % len(chosen)
            for name, argv, export in chosen[k:] + chosen[:k]:
                print("  round %d: %s ..." % (r + 1, name), flush=True)
                results[name].append(measure(name, argv, export, tmp, src, size, a.runtime))
        rows = {name: median_row(results[name]) for name, _, _ in chosen}
        print_table(rows)
        print()
        print("one core, openssl speed -evp, 4 KiB messages (MiB/s): " +
              ", ".join("%s %.0f" % kv for kv in crypto_speeds().items()))
        if "file" in rows and "file+luks" in rows:
            check_targets(rows)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
