#!/usr/bin/env python3
"""What an idle relayed connection costs each proxy, side by side in one run (issue 25).

Each proxy runs socket-activated (systemd-socket-activate) in a memory cgroup of its own (cgroup v1;
memory.usage_in_bytes includes kernel memory here, memory.kmem.usage_in_bytes is that part), in
front of an echo backend in a process of its own; the clients are this process. Reported per
proxy: fds per idle connection (from /proc/PID/fd), memory per idle connection (user + kernel, and
the kernel part), and how many connections it relays at once under one LimitNOFILE (prlimit):
connections are opened one by one, each must echo, until one does not within a second.

--keepalive: a keep-alive request rate through each proxy while it holds as many idle connections as
it can at one LimitNOFILE (default the hard limit here, 20,000): nginx behind the proxy (one worker, as
in run.mjs; it answers ~2x what a proxy passes, so it is not the bottleneck); the held connections
are opened by --client-procs processes of their own (each made one GET, then idles), all at once;
`wrk -t1 -c50` runs through the same listener with them held and with none held, in alternating order
per round. Reported: the time to open them, fds and KB per held connection, req/s and proxy CPU per
request, and the paired ratios held ÷ none per round.

usage: bench/idle-cost.py [--conns N] [--nofile L] [--rounds R] [--only PROXY] [--sockrelay PATH/launch.cjs]
       bench/idle-cost.py --keepalive [--hold-sockrelay N] [--hold-proxyd N] [--client-procs P] [--wrk-seconds S] [--rounds R]
(as root: it makes cgroups)
"""
import argparse, os, resource, shutil, socket, statistics, subprocess, sys, tempfile, time

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


HOLD = r"""
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
port, n = int(sys.argv[1]), int(sys.argv[2])
held, t0 = [], time.monotonic()
for _ in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: bench\r\n\r\n")
        if not s.recv(4096).startswith(b"HTTP/1.1 200 "):
            break
    except OSError:
        break
    s.settimeout(None); held.append(s)
print(len(held), time.monotonic() - t0, flush=True)
sys.stdin.read()  # held until the parent closes our stdin
"""

NGINX = """daemon off; worker_processes 1; worker_rlimit_nofile 20000; pid {d}/nginx.pid; error_log {d}/error.log warn;
events {{ worker_connections 20000; }}
http {{ access_log off; keepalive_requests 10000000; keepalive_timeout 600s; default_type text/plain;
  client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
  server {{ listen 127.0.0.1:{port} backlog=4096; root {d}/www; location / {{ }} }} }}
"""


def start_nginx(tmp):
    port = free_port()
    os.makedirs(f"{tmp}/www")
    with open(f"{tmp}/www/small.txt", "w") as f:
        f.write("x" * 127 + "\n")
    os.chmod(tmp, 0o755)  # workers drop to nobody
    with open(f"{tmp}/nginx.conf", "w") as f:
        f.write(NGINX.format(d=tmp, port=port))
    proc = subprocess.Popen(["nginx", "-p", f"{tmp}/", "-c", f"{tmp}/nginx.conf"], stderr=subprocess.DEVNULL)
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close(); return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill(); raise SystemExit("nginx did not listen within 5 s")


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


def get(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=2)
    s.sendall(b"GET /small.txt HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    ok = s.recv(4096).startswith(b"HTTP/1.1 200 ")
    s.close()
    if not ok:
        raise OSError("no HTTP response")


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


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(port, seconds, pid):
    c0 = cpu_s(pid)
    r = subprocess.run(["wrk", "-t1", "-c50", f"-d{seconds}s", f"http://127.0.0.1:{port}/small.txt"],
                       capture_output=True, text=True, timeout=seconds + 30)
    c1 = cpu_s(pid)
    bad = [l.strip() for l in r.stdout.splitlines() if "Non-2xx" in l or "Socket errors" in l]
    rps = next((float(l.split()[1]) for l in r.stdout.splitlines() if l.startswith("Requests/sec:")), None)
    if rps is None or bad:
        raise SystemExit(f"wrk: {' '.join(bad) or r.stdout + r.stderr}")
    return rps, (c1 - c0) / (rps * seconds) * 1e6


def hold(port, n, procs):
    """Opens n idle keep-alive connections from `procs` processes at once; returns them and the seconds it took."""
    shares = [n // procs + (i < n % procs) for i in range(procs)]
    t0 = time.monotonic()
    clients = [subprocess.Popen([sys.executable, "-c", HOLD, str(port), str(k)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True) for k in shares if k]
    opened = [int((c.stdout.readline().split() or [0])[0]) for c in clients]
    took = time.monotonic() - t0
    if sum(opened) != n:
        release(clients)
        raise SystemExit(f"held {sum(opened)} of {n} connections: raise the proxy's fd limit or hold fewer")
    return clients, took


def release(clients):
    for c in clients:
        c.stdin.close(); c.wait(timeout=30)


def keepalive(kind, n, a, backend, held_first):
    port = free_port()
    cg = cgroup(f"i25-bench-{kind}")
    proxy = start_proxy(kind, port, backend, a.nofile, cg, a.sockrelay)
    clients = []
    try:
        for _ in range(50):  # up to 5 s for the activator to listen
            try:
                get(port); break
            except OSError:
                time.sleep(0.1)
        pid, row = proxy.pid, {}
        for phase in (("held", "none") if held_first else ("none", "held")):
            if phase == "held":
                fds0, mem0 = settle(pid), read(f"{cg}/memory.usage_in_bytes")
                clients, row["open s"] = hold(port, n, a.client_procs)
                row["fds/conn"] = (settle(pid) - fds0) / n
                row["KB/conn"] = (read(f"{cg}/memory.usage_in_bytes") - mem0) / n / 1024
                row["req/s held"], row["CPU us/req held"] = wrk(port, a.wrk_seconds, pid)
                if settle(pid) - fds0 < 1.9 * n:
                    raise SystemExit(f"{kind}: the held connections did not stay relayed through the wrk run")
                release(clients); clients = []
                for _ in range(20):  # up to 10 s for the proxy to close them
                    if settle(pid) <= fds0 + 10: break
            else:
                row["req/s none"], row["CPU us/req none"] = wrk(port, a.wrk_seconds, pid)
        return row
    finally:
        release(clients)
        proxy.kill(); proxy.wait()
        time.sleep(0.5)
        try: os.rmdir(cg)
        except OSError: pass


def spread(v, f="{:.2f}"):
    return f"{f.format(statistics.median(v))} ({f.format(min(v))}–{f.format(max(v))})"


def keepalive_main(a):
    tmp = tempfile.mkdtemp(prefix="idle-keepalive-")
    nginx, backend = start_nginx(tmp)
    counts = {"socket-proxyd": a.hold_proxyd, "sockrelay": a.hold_sockrelay}
    rows = {k: [] for k in counts}
    try:
        for r in range(a.rounds):  # proxies alternate, and so does which phase goes first
            kinds = list(counts) if r % 2 == 0 else list(counts)[::-1]
            for kind in kinds:
                rows[kind].append(keepalive(kind, counts[kind], a, backend, held_first=r % 2 == 1))
                print(f"round {r + 1} {kind}: {rows[kind][-1]}", file=sys.stderr)
    finally:
        nginx.terminate()  # SIGKILL would leave its worker behind
        try: nginx.wait(timeout=10)
        except subprocess.TimeoutExpired: nginx.kill(); nginx.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    p, s = rows["socket-proxyd"], rows["sockrelay"]
    col = lambda rs, k, f="{:.2f}": spread([x[k] for x in rs], f)
    ratio = lambda rs, a_, b: spread([x[a_] / x[b] for x in rs])
    print(f"load {open('/proc/loadavg').read().strip()}; LimitNOFILE={a.nofile}; {a.client_procs} client processes;"
          f" wrk -t1 -c50 -d{a.wrk_seconds}s; rounds {a.rounds}; median (range)")
    print("| keep-alive through the proxy | socket-proxyd | sockrelay | sockrelay ÷ socket-proxyd (per round) |\n|---|---:|---:|---:|")
    print(f"| idle connections held | {a.hold_proxyd:,} | {a.hold_sockrelay:,} | {a.hold_sockrelay / a.hold_proxyd:.2f}× |")
    print(f"| time to open them, s | {col(p, 'open s')} | {col(s, 'open s')} | |")
    print(f"| fds per held connection | {col(p, 'fds/conn')} | {col(s, 'fds/conn')} | |")
    print(f"| KB per held connection (user + kernel) | {col(p, 'KB/conn')} | {col(s, 'KB/conn')} | |")
    said = {"none": "no idle connection held", "held": "the idle connections held"}
    for k in ("none", "held"):
        print(f"| req/s, {said[k]} | {col(p, f'req/s {k}', '{:,.0f}')} | {col(s, f'req/s {k}', '{:,.0f}')} |"
              f" {spread([x[f'req/s {k}'] / y[f'req/s {k}'] for x, y in zip(s, p)])}× |")
    for k in ("none", "held"):
        print(f"| proxy CPU per request, {said[k]}, µs | {col(p, f'CPU us/req {k}')} | {col(s, f'CPU us/req {k}')} | |")
    print(f"| req/s held ÷ none (paired per measurement) | {ratio(p, 'req/s held', 'req/s none')}× | {ratio(s, 'req/s held', 'req/s none')}× | |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--nofile", type=int, help="the proxy's LimitNOFILE (default 8192; --keepalive: 20000)")
    ap.add_argument("--sockrelay", default=f"{ROOT}/dist/launch.cjs")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", choices=["socket-proxyd", "sockrelay"], help="measure one proxy (one that cannot hold --conns)")
    ap.add_argument("--keepalive", action="store_true", help="wrk keep-alive through each proxy while it holds idle connections")
    ap.add_argument("--hold-sockrelay", type=int, default=8800)
    ap.add_argument("--hold-proxyd", type=int, default=3250)
    ap.add_argument("--client-procs", type=int, default=3)
    ap.add_argument("--wrk-seconds", type=int, default=5)
    a = ap.parse_args()
    a.nofile = a.nofile or (20000 if a.keepalive else 8192)
    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
    if a.keepalive:
        return keepalive_main(a)
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
