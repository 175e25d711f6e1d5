#!/usr/bin/python3
"""Ask an NBD server for an export by raw NBD_OPT_GO, so the name can hold
bytes no libnbd call can send (a NUL, a newline).  Prints the reply type
and exits 0 if the server accepted the export, 1 if it refused, 2 on
protocol trouble.

With --flood N it asks N times, one new plaintext connection each time
(a disk flood of unauthenticated connections; a count, not a time, so that a slow
machine floods as hard as a fast one), and prints "attempts N refused R
accepted A".

usage: nbd-raw-go.py [--flood N] SERVER NAME-AS-PYTHON-BYTES-LITERAL
SERVER is a Unix socket path or HOST:PORT.
"""
import ast, sys
from nbdraw import REP_MAGIC, NBD_REP_ACK, NBD_REP_INFO, send_go, read_option_reply

def go(server, name):
    """The reply type and message, or None on protocol trouble."""
    s = send_go(server, name)
    if s is None:
        return None
    with s:
        while True:
            magic, rtype, payload = read_option_reply(s)
            if magic != REP_MAGIC:
                return None
            if rtype != NBD_REP_INFO:
                return rtype, payload[4:].decode(errors="replace")

def flood(server, name, attempts):
    counts = {"attempts": 0, "refused": 0, "accepted": 0}
    while counts["attempts"] < attempts:
        counts["attempts"] += 1
        try:
            reply = go(server, name)
        except (OSError, EOFError):
            continue
        if reply is not None:
            counts["accepted" if reply[0] == NBD_REP_ACK else "refused"] += 1
    print(" ".join("%s %d" % kv for kv in counts.items()))
    return 0

def main():
    args = sys.argv[1:]
    if args[0] == "--flood":
        return flood(args[2], ast.literal_eval(args[3]), int(args[1]))
    reply = go(args[0], ast.literal_eval(args[1]))
    if reply is None:
        return 2
    print("reply type 0x%x %s" % reply)
    return 0 if reply[0] == NBD_REP_ACK else 1

sys.exit(main())
