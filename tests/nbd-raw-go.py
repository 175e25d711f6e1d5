#!/usr/bin/python3
"""Ask an NBD server for an export by raw NBD_OPT_GO, so the name can hold
bytes no libnbd call can send (a NUL).  Prints the reply type and exits 0
if the server accepted the export, 1 if it refused, 2 on protocol trouble.

usage: nbd-raw-go.py SOCKET NAME-AS-PYTHON-BYTES-LITERAL
"""
import ast, socket, struct, sys

OPT_MAGIC = b"IHAVEOPT"
REP_MAGIC = 0x3e889045565a9
NBD_OPT_GO = 7
NBD_REP_ACK, NBD_REP_INFO = 1, 3

def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("server closed the connection")
        buf += chunk
    return buf

def main():
    path, name = sys.argv[1], ast.literal_eval(sys.argv[2])
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    hello = recv_exact(s, 18)
    if hello[:16] != b"NBDMAGICIHAVEOPT":
        return 2
    s.sendall(struct.pack(">I", 3))             # fixed newstyle, no zeroes
    data = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
    s.sendall(OPT_MAGIC + struct.pack(">II", NBD_OPT_GO, len(data)) + data)
    while True:
        magic, opt, rtype, rlen = struct.unpack(">QIII", recv_exact(s, 20))
        payload = recv_exact(s, rlen)
        if magic != REP_MAGIC:
            return 2
        if rtype == NBD_REP_INFO:
            continue
        print("reply type 0x%x %s" % (rtype, payload[4:].decode(errors="replace")))
        return 0 if rtype == NBD_REP_ACK else 1

sys.exit(main())
