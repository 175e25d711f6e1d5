#!/usr/bin/python3
"""sealvol QoS benchmark: scenarios 26-28 of test-scenarios.md and the
throttle's own overhead, each printed with its numbers and PASS or FAIL.

  26  fio against a volume limited to N IOPS lands within +-10 % of N.
  27  noisy neighbour: an aggressor at queue depth 128 and a victim at
      queue depth 1 with a reserved rate, in one tenant with a cap: the
      victim gets its rate and its p99 stays within 2x of its p99 alone.
  28  a tenant cap over three flooding volumes holds within +-10 %, and an
      edit of service-types.conf takes effect without a restart.
  overhead  4 KiB random read with no limit set, QoS on vs qos=false,
      alternated: the throttle costs under 3 %.

usage: bench/qos-bench.py [--runtime 10]
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEALVOL = os.path.join(TOP, "sealvol")
PLUGIN = os.path.join(TOP, ".libs", "nbdkit-sealvol-plugin.so")

TYPES = """
[limited]
iops = 2000
[victim]
reserved-iops = 400
weight = 1
[aggressor]
weight = 1
[flood]
weight = 1
[unlimited]
weight = 1
"""


def sv(root, *args):
    subprocess.run([SEALVOL, "--root", root] + list(args), check=True,
                   stdout=subprocess.DEVNULL)


class Server:
    def __init__(self, root, sock, *params):
        self.log = open(sock + ".log", "w")
        self.proc = subprocess.Popen(["nbdkit", "-f", "-U", sock, "--threads=64", PLUGIN,
                                      "root=" + root, "tenant=t"] + list(params),
                                     stderr=self.log)
        self.sock = sock
        for _ in range(100):
            if os.path.exists(sock):
                return
            time.sleep(0.05)
        raise RuntimeError("nbdkit did not start")

    def uri(self, vol):
        return "nbd+unix:///%s?socket=%s" % (vol, self.sock)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.log.close()
        os.unlink(self.sock) if os.path.exists(self.sock) else None


def fio_start(uri, runtime, iodepth, rw="randread", rate_iops=None):
    cmd = ["fio", "--name=q", "--ioengine=nbd", "--uri=" + uri, "--rw=" + rw,
           "--bs=4k", "--iodepth=%d" % iodepth, "--size=64M", "--time_based",
           "--runtime=%d" % runtime, "--output-format=json"]
    if rate_iops:
        cmd.append("--rate_iops=%d" % rate_iops)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)


def fio_result(p):
    out = p.communicate()[0]
    job = json.loads(out[out.index("{"):])["jobs"][0]["read"]
    return job["iops"], job["clat_ns"]["percentile"]["99.000000"] / 1000.0


def verdict(ok):
    return "PASS" if ok else "FAIL"


def scenario_26(root, srv, runtime):
    iops, _ = fio_result(fio_start(srv.uri("lim"), runtime, 32))
    ok = abs(iops - 2000) <= 200
    print("26 %s  volume limited to 2000 IOPS: fio measured %.0f IOPS (%+.1f %%)" %
          (verdict(ok), iops, (iops / 2000 - 1) * 100))
    return ok


def scenario_27(root, srv, runtime):
    alone_iops, alone_p99 = fio_result(fio_start(srv.uri("vic"), runtime, 1, rate_iops=200))
    aggr = fio_start(srv.uri("agg"), runtime + 2, 128)
    time.sleep(1)
    vic_iops, vic_p99 = fio_result(fio_start(srv.uri("vic"), runtime, 1, rate_iops=200))
    agg_iops, _ = fio_result(aggr)
    ok = vic_iops >= 190 and vic_p99 <= 2 * alone_p99
    print("27 %s  noisy neighbour (tenant cap 3000 IOPS): victim alone %.0f IOPS p99 %.0f us; "
          "with an aggressor at qd 128 (%.0f IOPS) %.0f IOPS p99 %.0f us (%.2fx)" %
          (verdict(ok), alone_iops, alone_p99, agg_iops, vic_iops, vic_p99, vic_p99 / alone_p99))
    return ok


def scenario_28(root, srv, runtime):
    procs = [fio_start(srv.uri("f%d" % i), runtime, 32) for i in range(3)]
    total = sum(fio_result(p)[0] for p in procs)
    ok_cap = abs(total - 3000) <= 300
    print("28 %s  tenant cap 3000 IOPS over 3 flooding volumes: sum %.0f IOPS (%+.1f %%)" %
          (verdict(ok_cap), total, (total / 3000 - 1) * 100))
    # Edit the file under the running server: 2000 -> 1000 IOPS.
    path = os.path.join(root, "service-types.conf")
    open(path, "w").write(TYPES.replace("iops = 2000", "iops = 1000"))
    time.sleep(1.5)
    iops, _ = fio_result(fio_start(srv.uri("lim"), runtime, 32))
    ok_edit = abs(iops - 1000) <= 100
    print("28 %s  service-types.conf edited to 1000 IOPS, no restart: fio measured %.0f IOPS" %
          (verdict(ok_edit), iops))
    open(path, "w").write(TYPES)
    return ok_cap and ok_edit


def overhead(root, tmp, runtime, rounds=3):
    res = {"on": [], "off": []}
    for r in range(rounds):
        for mode in ("on", "off"):
            srv = Server(root, os.path.join(tmp, "o.sock"), "qos=" + ("true" if mode == "on" else "false"))
            try:
                res[mode].append(fio_result(fio_start(srv.uri("free"), runtime, 32))[0])
            finally:
                srv.stop()
    on, off = sorted(res["on"])[rounds // 2], sorted(res["off"])[rounds // 2]
    cost = (1 - on / off) * 100
    ok = cost < 3
    print("ov %s  throttle overhead, no limit set, 4 KiB randread qd 32: median %.0f IOPS "
          "with QoS, %.0f without (%.1f %%; runs %s / %s)" %
          (verdict(ok), on, off, cost, [round(x) for x in res["on"]], [round(x) for x in res["off"]]))
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runtime", type=int, default=10)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sealvol-qos.")
    root = os.path.join(tmp, "root")
    try:
        sv(root, "tenant", "create", "t")
        open(os.path.join(root, "service-types.conf"), "w").write(TYPES)
        with open(os.path.join(root, "t", "tenant.conf"), "a") as f:
            f.write("[caps]\niops = 3000\n")
        for vol, st in [("lim", "limited"), ("vic", "victim"), ("agg", "aggressor"),
                        ("f0", "flood"), ("f1", "flood"), ("f2", "flood"), ("free", "unlimited")]:
            sv(root, "volume", "create", "t/" + vol, "--size", "64M", "--service-type", st)
        print("sealvol QoS bench, %s, %d cores, %d s per run" %
              (time.strftime("%Y-%m-%d"), os.cpu_count(), a.runtime))
        results = []
        srv = Server(root, os.path.join(tmp, "q.sock"))
        try:
            results.append(scenario_26(root, srv, a.runtime))
            results.append(scenario_27(root, srv, a.runtime))
            results.append(scenario_28(root, srv, a.runtime))
        finally:
            srv.stop()
        # The overhead run needs no tenant cap.
        open(os.path.join(root, "t", "tenant.conf"), "a").write("")
        conf = os.path.join(root, "t", "tenant.conf")
        text = open(conf).read().replace("[caps]\niops = 3000\n", "")
        open(conf, "w").write(text)
        results.append(overhead(root, tmp, a.runtime))
        print("%d passed, %d failed" % (sum(results), len(results) - sum(results)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
