"""The NBD handshake by hand, for test clients that send what libnbd never
would (a NUL in an export name, requests nobody waits for).  Imported by
nbd-raw-go.py and nbd-hangup-flood.py from their own directory."""
import socket, struct

REP_MAGIC = 0x3e889045565a9
NBD_OPT_GO = 7
NBD_REP_ACK, NBD_REP_INFO = 1, 3
NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES = 1, 2

def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("server closed the connection")
        buf += chunk
    return buf

def connect(server):
    """A socket to SERVER: a Unix socket path, or HOST:PORT."""
    if "/" not in server and ":" in server:
        host, port = server.rsplit(":", 1)
        return socket.create_connection((host, int(port)))
    s = socket.socket(socket.AF_UNIX)
    s.connect(server)
    return s

def send_go(server, name):
    """Connect to SERVER, greet fixed-newstyle and send NBD_OPT_GO for
    NAME (bytes).  The socket, or None if the server does not speak
    newstyle NBD."""
    s = connect(server)
    if recv_exact(s, 18)[:16] != b"NBDMAGICIHAVEOPT":
        s.close()
        return None
    s.sendall(struct.pack(">I", NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))
    data = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
    s.sendall(b"IHAVEOPT" + struct.pack(">II", NBD_OPT_GO, len(data)) + data)
    return s

def read_option_reply(s):
    """(magic, reply type, payload) of the server's next option reply."""
    magic, _opt, rtype, rlen = struct.unpack(">QIII", recv_exact(s, 20))
    return magic, rtype, recv_exact(s, rlen)
