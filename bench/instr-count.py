#!/usr/bin/python3
"""Instructions per request, counted by callgrind: sealvol against nbdkit's
file plugin, for a 4 KiB random write and a 1 MiB sequential read.

Wall-clock benchmarks on a shared 2-core machine move by 20 % from minute
to minute; callgrind's instruction counts do not move at all.  Each server
is run under `valgrind --tool=callgrind` twice per workload, with N and 2N
requests from a python-libnbd client (fixed seed, queue depth 1, nbdkit
with one worker thread, so every per-thread buffer is set up once), and
the count per request is (Ir(2N) - Ir(N)) / N: start-up, the first touch
of every metadata page and shut-down cancel out.  User-space instructions only
(the kernel's share is what `perf record` shows); under valgrind OpenSSL
takes its AVX2 code, not AVX-512, so the cipher's count is an upper bound
of what runs natively.

usage: /usr/bin/python3 bench/instr-count.py [--writes 400] [--reads 16]
           [--servers file aes-256-xts aes-256-gcm xchacha20-poly1305]
           [--keep DIR]   (keep the callgrind files, for callgrind_annotate)
"""
import argparse, os, random, shutil, signal, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
SEALVOL = os.path.join(TOP, "sealvol")
PLUGIN = os.path.join(TOP, ".libs", "nbdkit-sealvol-plugin.so")
SIZE = 64 << 20


def client(sock, export, op, n):
    import nbd
    h = nbd.NBD()
    h.set_export_name(export)
    h.connect_unix(sock)
    rng = random.Random(1)
    if op == "write":
        buf = bytes(rng.getrandbits(8) for _ in range(4096))
        for _ in range(n):
            h.pwrite(buf, rng.randrange(SIZE // 4096) * 4096)
    else:
        for i in range(n):
            h.pread(1 << 20, (i % (SIZE >> 20)) << 20)
    h.shutdown()


def total_ir(path, fn):
    """Instructions of the whole run, or inclusive of function fn."""
    if fn is None:
        with open(path) as f:
            for line in f:
                if line.startswith("totals:") or line.startswith("summary:"):
                    return int(line.split()[1])
        raise RuntimeError("no totals in " + path)
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", path],
                         check=True, capture_output=True, text=True).stdout
    best = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2].split(":")[-1] == fn:
            best = max(best, int(parts[0].replace(",", "")))
    return best


def run_server(argv, export, op, n, out):
    sock = out + ".sock"
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
         "nbdkit", "-f", "-U", sock] + argv, stderr=subprocess.DEVNULL)
    for _ in range(600):
        if os.path.exists(sock):
            break
        time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("server did not start: %s" % argv)
    try:
        subprocess.run(["/usr/bin/python3", __file__, "--client", sock, export,
                        op, str(n)], check=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(120)
    fn = None if not export else "sv_volume_" + op
    return total_ir(out, None), total_ir(out, fn) if fn else 0


def prepare(tmp, ciphers):
    plain = os.path.join(tmp, "plain.img")
    root = os.path.join(tmp, "root")
    src = os.path.join(tmp, "src.img")
    with open(src, "wb") as f:
        f.write(random.Random(2).randbytes(SIZE))
    shutil.copy(src, plain)
    subprocess.run([SEALVOL, "--root", root, "tenant", "create", "bench"],
                   check=True, stdout=subprocess.DEVNULL)
    for c in ciphers:
        subprocess.run([SEALVOL, "--root", root, "volume", "create", "bench/" + c,
                        "--size", str(SIZE), "--cipher", c,
                        "--service-type", "unlimited"],
                       check=True, stdout=subprocess.DEVNULL)
        # Filled natively, so reads decrypt real blocks.
        subprocess.run(["nbdkit", "-U", "-", PLUGIN, "root=" + root, "tenant=bench",
                        "--run", "nbdcopy %s 'nbd+unix:///%s?socket='$unixsocket" % (src, c)],
                       check=True)
    return plain, root


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        client(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--writes", type=int, default=400)
    ap.add_argument("--reads", type=int, default=16)
    ap.add_argument("--servers", nargs="+",
                    default=["file", "aes-256-xts", "aes-256-gcm", "xchacha20-poly1305"])
    ap.add_argument("--keep")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sealvol-instr.")
    outdir = a.keep or tmp
    os.makedirs(outdir, exist_ok=True)
    try:
        ciphers = [s for s in a.servers if s != "file"]
        plain, root = prepare(tmp, ciphers)
        print("Ir per request: the whole process (nbdkit, plugin, libraries; "
              "+-1k from timers),\nand sv_volume_write/sv_volume_read alone (exact)")
        print("%-20s %14s %14s %14s %14s" % ("server", "4K write", "of which sv_",
                                            "1M read", "of which sv_"))
        for s in a.servers:
            argv, export = ((["file", plain], "") if s == "file" else
                            ([PLUGIN, "root=" + root, "tenant=bench"], s))
            per = []
            for op, n in (("write", a.writes), ("read", a.reads)):
                ir = [run_server(argv, export, op, k,
                                 os.path.join(outdir, "cg.%s.%s.%d" % (s, op, k)))
                      for k in (n, 2 * n)]
                per += [(ir[1][0] - ir[0][0]) / n, (ir[1][1] - ir[0][1]) / n]
            print("%-20s %14.0f %14.0f %14.0f %14.0f" % ((s,) + tuple(per)), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
