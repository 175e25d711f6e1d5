#!/usr/bin/python3
"""Crash harness: writers stamp each block with (volume,
block, generation); the nbdkit server is SIGKILLed at random moments,
restarted, and every block verified.

A process kill loses nothing the kernel accepted, so after each kill every
block must hold exactly its last acknowledged stamp, or the stamp of the
write that was in flight when the server died; never an integrity error,
never another volume's or block's stamp, never an older generation.

usage: crash-harness.py --root ROOT --tenant T --volumes a,b,c --plugin SO
                        [--io uring] [--rounds 10] [--seed N] [--beside CMD]
Prints a summary line: rounds, kills, blocks verified, failures.

--beside CMD (split at spaces) runs CMD in each round too, started at a
random moment while the writers write and SIGKILLed with the server, at
the round's random moment, unless it ended before; e.g. "sealvol --root R tenant rotate-key T",
so key rotations are cut at random points under load.  The summary then
counts the runs that were killed and those that finished.
"""
import argparse, os, random, signal, struct, subprocess, sys, threading, time
import nbd

BLOCK = 4096


def stamp(volume, block, gen):
    head = struct.pack("<16sQQ", volume.encode()[:16], block, gen)
    return (head * (BLOCK // len(head) + 1))[:BLOCK]


def parse(data):
    vol, block, gen = struct.unpack_from("<16sQQ", data)
    return vol.rstrip(b"\0").decode(errors="replace"), block, gen


class Volume:
    def __init__(self, name, nblocks):
        self.name, self.nblocks = name, nblocks
        self.acked = {}          # block -> last acknowledged generation
        self.pending = {}        # block -> generation in flight


def writer(sock, vol, rng, stop, errors, lane, lanes, ready=None):
    """One connection writing the blocks b with b % lanes == lane, so the
    writers of a volume run concurrently on disjoint blocks.  A connection
    the kill cut short is no failure: a slow machine, or a server that
    opens its volumes slowly (rbd), may still be connecting then."""
    try:
        h = nbd.NBD()
        h.connect_uri("nbd+unix:///%s?socket=%s" % (vol.name, sock))
    except nbd.Error as e:
        if not killed.is_set():
            errors.append("%s: connect: %s" % (vol.name, e))
        return
    finally:
        if ready:
            ready.release()
    mine = list(range(lane, vol.nblocks, lanes))
    hot = rng.sample(mine, min(16, len(mine)))
    while not stop.is_set():
        b = rng.choice(hot) if rng.random() < 0.7 else rng.choice(mine)
        gen = max(vol.acked.get(b, 0), vol.pending.get(b, 0)) + 1
        vol.pending[b] = gen
        try:
            flags = nbd.CMD_FLAG_FUA if rng.random() < 0.1 else 0
            h.pwrite(stamp(vol.name, b, gen), b * BLOCK, flags)
            if rng.random() < 0.05:
                h.flush()
        except nbd.Error:
            return               # the server was killed under us
        vol.acked[b] = gen
        del vol.pending[b]


def start_server(args, sock, log):
    """nbdkit, once it listens: it writes its pid file after listen(), so
    waiting for the socket's name alone can connect before it listens."""
    pidfile = sock + ".pid"
    for f in (sock, pidfile):
        if os.path.exists(f):
            os.unlink(f)
    p = subprocess.Popen(["nbdkit", "-f", "-U", sock, "-P", pidfile, args.plugin,
                          "root=" + args.root, "tenant=" + args.tenant, "io=" + args.io],
                         stderr=log)
    for _ in range(1000):
        if os.path.exists(pidfile) and os.path.getsize(pidfile) > 0:
            return p
        if p.poll() is not None:
            raise RuntimeError("nbdkit exited with status %d" % p.returncode)
        time.sleep(0.02)
    raise RuntimeError("nbdkit did not start")


def verify(sock, vol, failures):
    h = nbd.NBD()
    h.connect_uri("nbd+unix:///%s?socket=%s" % (vol.name, sock))
    checked = 0
    for b in range(vol.nblocks):
        try:
            data = h.pread(BLOCK, b * BLOCK)
        except nbd.Error as e:
            failures.append("%s block %d: read error %s" % (vol.name, b, e))
            continue
        checked += 1
        allowed = {g for g in (vol.acked.get(b), vol.pending.get(b)) if g}
        if data == bytes(BLOCK) and vol.acked.get(b) is None:
            vol.pending.pop(b, None)    # never acknowledged: zero is right
            continue
        if not allowed:
            failures.append("%s block %d: never written but not zero" % (vol.name, b))
            continue
        name, blk, gen = parse(data)
        if data != stamp(vol.name, b, gen) or name != vol.name[:16] or blk != b or gen not in allowed:
            failures.append("%s block %d: holds (%s, %d, %d), allowed generations %s"
                            % (vol.name, b, name, blk, gen, sorted(allowed)))
        else:
            # What is there now is the acknowledged state from here on.
            vol.acked[b] = gen
            vol.pending.pop(b, None)
    h.shutdown()
    return checked


def end_beside(p):
    """SIGKILL the --beside command unless it ended: "killed" or
    "finished".  Its own failure is not the harness's (a run may meet a
    state half done by the one killed before, which it then completes)."""
    if p.poll() is not None:
        return "finished"
    p.send_signal(signal.SIGKILL)
    p.wait()
    return "killed"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True)
    ap.add_argument("--tenant", required=True)
    ap.add_argument("--volumes", required=True)
    ap.add_argument("--plugin", required=True)
    ap.add_argument("--io", default="uring")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--log", default="/dev/null")
    ap.add_argument("--writers", type=int, default=4, help="connections per volume")
    ap.add_argument("--beside", help="a command run and killed in each round")
    ap.add_argument("--size", type=int, help="volume size in bytes (default: "
                    "the data file's; needed where there is none, as on rbd)")
    ap.add_argument("--after-kill", help="shell command run after each SIGKILL "
                    "(on rbd: break the dead server's volume locks)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    sock = os.path.join(a.root, "crash.sock")
    log = open(a.log, "a")
    vols = []
    for name in a.volumes.split(","):
        size = a.size or os.path.getsize(os.path.join(a.root, a.tenant, "volumes", name, "data"))
        vols.append(Volume(name, size // BLOCK))
    failures, checked, kills = [], 0, 0
    beside = {"killed": 0, "finished": 0}
    # Adopt what the volumes already hold (an earlier run's stamps).
    srv = start_server(a, sock, log)
    try:
        for v in vols:
            h = nbd.NBD()
            h.connect_uri("nbd+unix:///%s?socket=%s" % (v.name, sock))
            for b in range(v.nblocks):
                data = h.pread(BLOCK, b * BLOCK)
                if data != bytes(BLOCK):
                    v.acked[b] = parse(data)[2]
            h.shutdown()
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait()
    for rnd in range(a.rounds):
        srv = start_server(a, sock, log)
        stop, errors = threading.Event(), []
        # The kill's random moment counts from when every writer is
        # connected: on a loaded machine a connect can take longer than
        # the shortest round, and a late one would count as a failure.
        ready = threading.Semaphore(0)
        threads = [threading.Thread(target=writer, args=(sock, v, random.Random(rng.random()),
                                                         stop, errors, lane, a.writers, ready))
                   for v in vols for lane in range(a.writers)]
        for t in threads:
            t.start()
        for t in threads:
            ready.acquire(timeout=30)
        side = None
        if a.beside:
            time.sleep(rng.uniform(0.1, 0.5))
            side = subprocess.Popen(a.beside.split(), stdout=subprocess.DEVNULL, stderr=log)
            time.sleep(rng.uniform(0.0, 0.4))
        else:
            time.sleep(rng.uniform(0.2, 1.2))
        srv.send_signal(signal.SIGKILL)     # a crash at a random moment
        srv.wait()
        kills += 1
        if side:                            # and the command beside it
            beside[end_beside(side)] += 1
        if a.after_kill:
            subprocess.run(a.after_kill, shell=True, check=True, stdout=subprocess.DEVNULL)
        stop.set()
        for t in threads:
            t.join()
        failures += errors
        srv = start_server(a, sock, log)
        try:
            for v in vols:
                checked += verify(sock, v, failures)
        finally:
            srv.send_signal(signal.SIGTERM)
            srv.wait()
        if failures:
            break
    print("crash harness (seed %d, io=%s): %d rounds, %d kills, %d blocks verified, %d failures"
          % (a.seed, a.io, rnd + 1, kills, checked, len(failures)))
    if a.beside:
        print("  beside: %d killed, %d finished" % (beside["killed"], beside["finished"]))
    for f in failures[:20]:
        print("  " + f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
