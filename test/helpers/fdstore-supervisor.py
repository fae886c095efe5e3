#!/usr/bin/env python3
"""systemd's side of a socket unit and a service with FileDescriptorStoreMax=, for restart tests.

Holds the listening sockets, receives sd_notify datagrams (FDSTORE=1 / FDNAME= / FDSTOREREMOVE=1 with
their fds as SCM_RIGHTS), and on "restart" sends SIGTERM, waits, and starts the command again with the
sockets followed by the stored fds, named in LISTEN_FDNAMES, as systemd does. Node cannot receive
SCM_RIGHTS on a datagram socket, hence Python.

Config: one JSON argument {"listen": [{"type": "stream"|"dgram", "name": str}], "fdstore": int,
"command": [...], "dir": tmpdir}. Commands on stdin: start | restart | stop | store-garbage NAME | close-notify |
hand-over (the stop half of a restart: SIGTERM under a restart job, no start after) | empty-store (closes every
stored fd, as systemd does when a unit with a store stops or the store overflows).
Events on stdout, one JSON object per line. The command's stderr passes through to ours.

The command asks systemd over the bus (busctl) whether its SIGTERM is a stop or a restart; without a
booted systemd here, a busctl first on its PATH answers as systemd would, from the job this supervisor
is running ("restart" while restarting, "stop" while stopping). test/systemd/ covers the real bus.
"""
import array
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import threading

config = json.loads(sys.argv[1])
lock = threading.Lock()
stored = []  # [(name, fd)] in the order systemd would pass them
child = None


def emit(**event):
    with lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


listeners = []
for spec in config["listen"]:
    kind = socket.SOCK_STREAM if spec["type"] == "stream" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        s.listen(128)
    listeners.append((spec.get("name", "unknown"), s))

job_path = os.path.join(config["dir"], "job")
bin_dir = os.path.join(config["dir"], "bin")
os.makedirs(bin_dir, exist_ok=True)
with open(os.path.join(bin_dir, "busctl"), "w") as f:
    f.write("""#!/bin/sh
# busctl --system --json=short, answering only what sockrelay asks at SIGTERM.
job=$(cat '%s' 2>/dev/null)
case "$*" in
*GetUnitByPID*) echo '{"type":"o","data":["/org/freedesktop/systemd1/unit/test_2eservice"]}' ;;
*" Job") if [ -n "$job" ]; then echo '{"type":"(uo)","data":[7,"/org/freedesktop/systemd1/job/7"]}';
         else echo '{"type":"(uo)","data":[0,"/"]}'; fi ;;
*JobType) echo "{\\"type\\":\\"s\\",\\"data\\":\\"$job\\"}" ;;
*FileDescriptorStoreMax) echo '{"type":"u","data":%d}' ;;
*) echo "busctl stand-in: unexpected $*" >&2; exit 1 ;;
esac
""" % (job_path, config["fdstore"]))
os.chmod(os.path.join(bin_dir, "busctl"), 0o755)


def set_job(job):
    with open(job_path, "w") as f:
        f.write(job)


notify_path = os.path.join(config["dir"], "notify.sock")
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(notify_path)


def receive_notifications():
    max_fds = 253
    while True:
        try:
            data, ancdata, _, _ = notify.recvmsg(65536, socket.CMSG_SPACE(max_fds * 4))
        except OSError:
            return
        fds = array.array("i")
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
        fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
        with lock:
            if fields.get("FDSTORE") == "1":
                room = config["fdstore"] - len(stored)
                for fd in fds[:room]:
                    stored.append((fields.get("FDNAME", "stored"), fd))
                for fd in fds[room:]:
                    os.close(fd)
            elif fds:
                for fd in fds:
                    os.close(fd)
            if fields.get("FDSTOREREMOVE") == "1":
                name = fields.get("FDNAME")
                for entry in [e for e in stored if e[0] == name]:
                    stored.remove(entry)
                    os.close(entry[1])
        emit(event="notify", state=data.decode(), fds=len(fds), stored=len(stored))


def start():
    global child
    with lock:
        passed = [(name, s.fileno()) for name, s in listeners] + list(stored)
    names = ":".join(name for name, _ in passed)

    def place_fds():
        # Move every fd out of the way first, then down to 3, 4, … as sd_listen_fds(3) expects.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 512) for _, fd in passed]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i, inheritable=True)

    env = dict(os.environ, LISTEN_FDS=str(len(passed)), LISTEN_FDNAMES=names,
               NOTIFY_SOCKET=notify_path, FDSTORE=str(config["fdstore"]),
               PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    env.pop("LISTEN_PID", None)
    child = subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$ exec "$0" "$@"'] + config["command"],
                             env=env, preexec_fn=place_fds, close_fds=False, stdin=subprocess.DEVNULL)
    emit(event="started", pid=child.pid, fds=len(passed), names=names)
    proc = child
    threading.Thread(target=lambda: emit(event="exited", pid=proc.pid, code=proc.wait()), daemon=True).start()


def stop_child():
    if child and child.poll() is None:
        child.send_signal(signal.SIGTERM)
        child.wait()


threading.Thread(target=receive_notifications, daemon=True).start()
emit(event="listening", ports=[s.getsockname()[1] for _, s in listeners])
for line in sys.stdin:
    command, _, arg = line.strip().partition(" ")
    if command == "start":
        start()
    elif command == "restart":
        set_job("restart")
        stop_child()
        set_job("")
        start()
    elif command == "hand-over":
        set_job("restart")
        stop_child()
        set_job("")
        emit(event="handed-over", stored=len(stored))
    elif command == "empty-store":
        with lock:
            for _, fd in stored:
                os.close(fd)
            stored.clear()
        emit(event="store-emptied")
    elif command == "store-garbage":
        # A pipe under a handover-looking name: the next instance must reject it cleanly.
        r, w = os.pipe()
        os.close(w)
        with lock:
            stored.append((arg, r))
        emit(event="stored-garbage", name=arg)
    elif command == "close-notify":
        # systemd's side going away: the proxy's FDSTORE=1 messages now fail.
        notify.close()
        os.unlink(notify_path)
        emit(event="notify-closed")
    elif command == "stop":
        break
set_job("stop")
stop_child()
emit(event="stopped")
