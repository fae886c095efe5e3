#!/usr/bin/env python3
"""What an idle relayed connection costs each proxy, side by side in one run (issue 25).

Each proxy runs socket-activated (systemd-socket-activate) in a memory cgroup of its own (cgroup v1;
memory.usage_in_bytes includes kernel memory here, memory.kmem.usage_in_bytes is that part), in
front of an echo backend in a process of its own; the clients are this process. Reported per
proxy: fds per idle connection (from /proc/PID/fd), memory per idle connection (user + kernel, and
the kernel part), and how many connections it relays at once under one LimitNOFILE (prlimit):
connections are opened one by one, each must echo, until one does not within a second.

usage: bench/idle-cost.py [--conns N] [--nofile L] [--rounds R] [--only PROXY] [--sockrelay PATH/launch.cjs]
(as root: it makes cgroups)
"""
import argparse, os, resource, select, socket, subprocess, sys, time

CG = "/sys/fs/cgroup/memory"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


ECHO = r"""
import selectors, socket, sys, resource
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
sel = selectors.DefaultSelector()
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(("127.0.0.1", 0)); l.listen(4096)
l.setblocking(False); sel.register(l, selectors.EVENT_READ)
print(l.getsockname()[1], flush=True)
while True:
    for key, _ in sel.select():
        if key.fileobj is l:
            try:
                c, _ = l.accept(); c.setblocking(False); sel.register(c, selectors.EVENT_READ)
            except OSError:
                pass
        else:
            try:
                d = key.fileobj.recv(65536)
            except OSError:
                d = b""
            if d:
                try: key.fileobj.send(d)
                except OSError: pass
            else:
                sel.unregister(key.fileobj); key.fileobj.close()
"""


def cgroup(name):
    path = f"{CG}/{name}"
    if os.path.isdir(path):
        os.rmdir(path)
    os.mkdir(path)
    return path


def read(path):
    with open(path) as f:
        return int(f.read())


def start_proxy(kind, port, backend, nofile, cg, sockrelay):
    if kind == "socket-proxyd":
        cmd = ["/lib/systemd/systemd-socket-proxyd", "--connections-max=100000", f"127.0.0.1:{backend}"]
    else:
        cmd = ["node", sockrelay, "--exit-idle-time=infinity", "-c", "100000", f"127.0.0.1:{backend}"]
    limit = ["prlimit", f"--nofile={nofile}:{nofile}"]
    sh = f'echo $$ > {cg}/cgroup.procs && exec "$@"'
    return subprocess.Popen(["sh", "-c", sh, "sh", *limit, "systemd-socket-activate", "-l", f"127.0.0.1:{port}", *cmd],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def open_conn(port, timeout=1.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(b"x")
    if s.recv(1) != b"x":
        raise OSError("no echo")
    return s


def settle(pid):
    time.sleep(0.5)
    return len(os.listdir(f"/proc/{pid}/fd"))


def measure(kind, n, nofile, sockrelay, backend):
    port = free_port()
    cg = cgroup(f"i25-bench-{kind}")
    proxy = start_proxy(kind, port, backend, nofile, cg, sockrelay)
    conns = []
    try:
        for _ in range(50):  # up to 5 s for the activator to listen
            try:
                conns.append(open_conn(port)); break
            except OSError:
                time.sleep(0.1)
        pid = proxy.pid
        fds1 = settle(pid)
        mem1, kmem1 = read(f"{cg}/memory.usage_in_bytes"), read(f"{cg}/memory.kmem.usage_in_bytes")
        t0 = time.monotonic()
        for _ in range(n):
            conns.append(open_conn(port))
        opened = time.monotonic() - t0
        fdsn = settle(pid)
        memn, kmemn = read(f"{cg}/memory.usage_in_bytes"), read(f"{cg}/memory.kmem.usage_in_bytes")
        row = {
            "fds/conn": (fdsn - fds1) / n,
            "KB/conn (user+kernel)": (memn - mem1) / n / 1024,
            "KB/conn kernel": (kmemn - kmem1) / n / 1024,
            f"open {n} s": opened,
        }
        # Connections at once under the limit: keep opening until one is not relayed (bounded).
        held = len(conns)
        for _ in range(3 * nofile):
            try:
                conns.append(open_conn(port))
            except OSError:
                break
        row[f"relayed at once, LimitNOFILE={nofile}"] = len(conns)
        return row
    finally:
        for c in conns:
            c.close()
        proxy.kill(); proxy.wait()
        time.sleep(0.5)
        try: os.rmdir(cg)
        except OSError: pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--nofile", type=int, default=8192)
    ap.add_argument("--sockrelay", default=f"{ROOT}/dist/launch.cjs")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", choices=["socket-proxyd", "sockrelay"], help="measure one proxy (one that cannot hold --conns)")
    a = ap.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
    echo = subprocess.Popen([sys.executable, "-c", ECHO], stdout=subprocess.PIPE, text=True)
    backend = int(echo.stdout.readline())
    try:
        rows = {}
        # Alternated: socket-proxyd, sockrelay, socket-proxyd, sockrelay, …
        for r in range(a.rounds):
            for kind in [a.only] if a.only else ("socket-proxyd", "sockrelay"):
                rows.setdefault(kind, []).append(measure(kind, a.conns, a.nofile, a.sockrelay, backend))
        print(f"load {open('/proc/loadavg').read().strip()}; {a.conns} idle connections; rounds {a.rounds}")
        keys = list(next(iter(rows.values()))[0].keys())
        if a.only:
            for k in keys:
                v = [x[k] for x in rows[a.only]]
                print(f"| {k} | {a.only} {sum(v) / len(v):.2f} ({min(v):.2f}–{max(v):.2f}) |")
            return
        print("| per idle connection | socket-proxyd | sockrelay | ratio |\n|---|---:|---:|---:|")
        for k in keys:
            p = [x[k] for x in rows["socket-proxyd"]]; s = [x[k] for x in rows["sockrelay"]]
            mp, ms = sum(p) / len(p), sum(s) / len(s)
            print(f"| {k} | {mp:.2f} ({min(p):.2f}–{max(p):.2f}) | {ms:.2f} ({min(s):.2f}–{max(s):.2f}) | {ms / mp if mp else 0:.2f}x |")
    finally:
        echo.kill()


main()
