#!/usr/bin/python3
"""Ask an NBD server for an export by raw NBD_OPT_GO, so the name can hold
bytes no libnbd call can send (a NUL).  Prints the reply type and exits 0
if the server accepted the export, 1 if it refused, 2 on protocol trouble.

usage: nbd-raw-go.py SOCKET NAME-AS-PYTHON-BYTES-LITERAL
"""
import ast, sys
from nbdraw import REP_MAGIC, NBD_REP_ACK, NBD_REP_INFO, send_go, read_option_reply

def main():
    path, name = sys.argv[1], ast.literal_eval(sys.argv[2])
    s = send_go(path, name)
    if s is None:
        return 2
    while True:
        magic, rtype, payload = read_option_reply(s)
        if magic != REP_MAGIC:
            return 2
        if rtype == NBD_REP_INFO:
            continue
        print("reply type 0x%x %s" % (rtype, payload[4:].decode(errors="replace")))
        return 0 if rtype == NBD_REP_ACK else 1

sys.exit(main())
