// The servers behind the proxies: nginx for HTTP workloads, iperf3 for bulk. Each runs from a
// temp dir of ours on a 127.0.0.1 port, with no system path written.
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { start } from './proc.mjs';
import { HOST, freePort, waitForPort } from './net.mjs';

export const SMALL_FILE = '/small.txt';
const SMALL_BYTES = 128;

/**
 * nginx with one worker (so that, on 2 cores, load tool and proxy keep a core between them),
 * access log off, keep-alive unbounded in requests, serving a 128-byte file.
 * proxyProtocol: listen with `proxy_protocol` (every connection must start with a PROXY header).
 * netns: { name, host, port, ready(port) }: run in that network namespace, on host:port there.
 */
export async function startNginx(tmp, { proxyProtocol = false, netns = null } = {}) {
  const dir = path.join(
    tmp,
    netns ? `nginx-${netns.name}` : proxyProtocol ? 'nginx-proxy-protocol' : 'nginx',
  );
  const www = path.join(dir, 'www');
  mkdirSync(www, { recursive: true });
  writeFileSync(path.join(www, SMALL_FILE.slice(1)), 'x'.repeat(SMALL_BYTES - 1) + '\n');
  // Workers drop to nobody when nginx starts as root; mkdtemp made the tree 0700.
  for (const d of [tmp, dir, www]) chmodSync(d, 0o755);
  const port = netns?.port ?? (await freePort());
  const conf = `
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 16384;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  default_type text/plain;
  server {
    listen ${netns?.host ?? HOST}:${port} backlog=4096${proxyProtocol ? ' proxy_protocol' : ''};
    root ${www};
    location / { }
  }
}
`;
  const confPath = path.join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  const inNetns = netns ? ['ip', 'netns', 'exec', netns.name] : [];
  const proc = start([
    ...inNetns,
    'nginx',
    '-p',
    dir + '/',
    '-c',
    confPath,
    '-e',
    path.join(dir, 'error.log'),
  ]);
  // A connect is enough to know it listens; with proxy_protocol nginx just waits for the header.
  const s = await Promise.race([
    netns ? netns.ready(port) : waitForPort(port, 10_000),
    proc.exited.then((r) => {
      throw new Error(`nginx exited (${r.code ?? r.signal}): ${proc.out.stderr.trim()}`);
    }),
  ]);
  s?.destroy();
  return { port, proc, stop: () => proc.stop() };
}

/** A fresh iperf3 server per measurement: a failed test can leave a reused one "busy". */
export async function startIperf3() {
  const port = await freePort();
  const proc = start(['iperf3', '-s', '-B', HOST, '-p', String(port), '--forceflush']);
  await proc.waitFor('stdout', /Server listening on/, 5000, 'iperf3 -s to listen');
  return { port, proc, stop: () => proc.stop() };
}
