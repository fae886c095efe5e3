"""Both peers of a relayed TCP connection, one of them sending a byte as urgent data (MSG_OOB),
which Node cannot do. Prints the backend's port, reads the proxy's port from stdin, moves 6,007
bytes (3,000, the urgent byte, 3,006) the way argv says, then prints what the receiver got as JSON.

usage: urgent-peers.py up|down fin|nofin [late]
  up:   the client sends the urgent byte, the backend receives.
  down: the backend sends the urgent byte, the client receives.
  fin:  the sender shuts its side down after the last byte; nofin: it keeps the connection open
        and the receiver stops once it has all the bytes (or times out).
  late: 16 MiB come before the urgent byte, more than every buffer on the way holds, and the
        receiver, with a small receive buffer, starts reading only once the sender is stuck: the
        relay's flow waits on the receiver most of the time, also when the mark comes.
"""
import fcntl
import hashlib
import json
import os
import select
import socket
import struct
import sys
import threading

SIOCATMARK = 0x8905
LATE = sys.argv[3:] == ["late"]
BEFORE = os.urandom(16 * 1024 * 1024 if LATE else 3000)
URGENT = b"!"
AFTER = os.urandom(3006)
TOTAL = len(BEFORE) + len(URGENT) + len(AFTER)
# The late receiver's buffer: small, so the relay cannot hand it much before it reads.
LATE_RCVBUF = 4096


def at_mark(sock):
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), SIOCATMARK, struct.pack("i", 0)))[0] != 0


def send_all(sock, fin, stuck=None):
    if stuck is not None:
        # Until the buffers on the way are full; then the rest as usual, as the receiver reads.
        sock.setblocking(False)
        sent = 0
        try:
            while sent < len(BEFORE):
                sent += sock.send(BEFORE[sent:])
        except BlockingIOError:
            pass
        stuck.set()
        sock.setblocking(True)
        sock.sendall(BEFORE[sent:])
    else:
        sock.sendall(BEFORE)
    sock.send(URGENT, socket.MSG_OOB)
    sock.sendall(AFTER)
    if fin:
        sock.shutdown(socket.SHUT_WR)


def receive_all(sock, fin):
    # Inline, so the urgent byte is read in its place; where the mark was is reported too.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_OOBINLINE, 1)
    # Reading only once the urgent byte is there: a read that starts before it arrives would read
    # through the mark without stopping, and the mark could not be seen. The late receiver must read
    # first; it waits before each read until there is something, so no read waits at the mark.
    if not LATE:
        select.select([], [], [sock], 5)
    sock.settimeout(5)
    data = bytearray()
    marks = []
    eof = False
    try:
        while fin or len(data) < TOTAL:
            if LATE and not any(select.select([sock], [], [sock], 5)):
                break
            if at_mark(sock):
                marks.append(len(data))
            chunk = sock.recv(65536)
            if not chunk:
                eof = True
                break
            data += chunk
    except socket.timeout:
        pass
    return {
        "length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "expected": hashlib.sha256(BEFORE + URGENT + AFTER).hexdigest(),
        "marks": marks,
        "eof": eof,
    }


def main():
    direction, fin = sys.argv[1], sys.argv[2] == "fin"
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if LATE:
        # Set before the handshake, so the window the receiver offers stays small; accepted sockets
        # take the listener's.
        (server if direction == "up" else client).setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, LATE_RCVBUF)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    print(server.getsockname()[1], flush=True)
    proxy_port = int(sys.stdin.readline())
    client.connect(("127.0.0.1", proxy_port))
    server.settimeout(5)
    backend, _ = server.accept()
    sender, receiver = (client, backend) if direction == "up" else (backend, client)
    if LATE:
        stuck = threading.Event()
        sending = threading.Thread(target=send_all, args=(sender, fin, stuck))
        sending.start()
        stuck.wait(5)
    else:
        send_all(sender, fin)
    result = receive_all(receiver, fin)
    if LATE:
        sending.join(10)
    print(json.dumps(result), flush=True)
    client.close()
    backend.close()


main()
