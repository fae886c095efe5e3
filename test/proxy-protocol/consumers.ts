/**
 * Real PROXY protocol consumers from Debian, started by the tests themselves:
 * nginx (`listen … proxy_protocol`) and haproxy (`bind … accept-proxy`), each in
 * a temp dir with its own config, pid and logs, on loopback ports of its own,
 * in the foreground so that the test owns the process. Both answer every HTTP
 * request with the client address they took from the header, and nginx also
 * logs it as `$proxy_protocol_addr:$proxy_protocol_port`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { freePort, sendAndCollect } from '../helpers/net.js';
import { has } from '../helpers/requires.js';

export const hasNginx = has('nginx');
export const hasHaproxy = has('haproxy');

export interface Consumer {
  /** 127.0.0.1 port and ::1 port, both expecting the header. */
  port: number;
  port6: number;
  /** haproxy only: a unix socket path expecting the header. */
  unixPath?: string;
  stop(): Promise<void>;
}

/** Rejects if `child` exits or `ms` pass before `ready` resolves. */
async function startedBy(child: ChildProcess, ready: Promise<void>, ms: number, what: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not ready within ${ms} ms`)), ms);
    child.once('exit', (code, signal) => reject(new Error(`${what} exited (${code ?? signal}) at start`)));
    child.once('error', reject);
  });
  try {
    await Promise.race([ready, failed]);
  } finally {
    clearTimeout(timer);
  }
}

function stopper(child: ChildProcess): () => Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
}

/** Resolves once `file` exists: nginx writes its pid file after it has bound its listeners. */
function fileAppears(dir: string, file: string): Promise<void> {
  return new Promise((resolve) => {
    const watcher = watch(dir, () => {
      if (existsSync(join(dir, file))) (watcher.close(), resolve());
    });
    if (existsSync(join(dir, file))) (watcher.close(), resolve());
  });
}

/** `port`: where to listen on 127.0.0.1, for a proxy already pointing there; a free one by default. */
export async function startNginx(dir: string, port?: number): Promise<Consumer & { accessLog(): string[] }> {
  const [port4, port6] = [port ?? (await freePort()), await freePort('::1')];
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 64; }
http {
  log_format pp '$proxy_protocol_addr:$proxy_protocol_port';
  access_log ${dir}/access.log pp;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port4} proxy_protocol;
    listen [::1]:${port6} proxy_protocol;
    location / { return 200 "$proxy_protocol_addr:$proxy_protocol_port"; }
  }
}
`,
  );
  const child = spawn('nginx', ['-e', join(dir, 'error.log'), '-p', dir, '-c', conf], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stop = stopper(child);
  try {
    await startedBy(child, fileAppears(dir, 'nginx.pid'), 10_000, 'nginx');
  } catch (err) {
    await stop();
    const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : '';
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  return {
    port: port4,
    port6,
    stop,
    accessLog: () => readFileSync(join(dir, 'access.log'), 'utf8').split('\n').filter(Boolean),
  };
}

export async function startHaproxy(dir: string): Promise<Consumer> {
  const [port, port6] = [await freePort(), await freePort('::1')];
  const unixPath = join(dir, 'haproxy.sock');
  const conf = join(dir, 'haproxy.cfg');
  writeFileSync(
    conf,
    `global
  log stderr format raw local0 notice
defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend fe
  bind 127.0.0.1:${port} accept-proxy
  bind [::1]:${port6} accept-proxy
  bind unix@${unixPath} accept-proxy
  http-request return status 200 content-type text/plain lf-string "%[src]:%[src_port]"
`,
  );
  // Master-worker in the foreground: it says "Loading success." once the worker is listening.
  const child = spawn('haproxy', ['-W', '-db', '-f', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = stopper(child);
  let output = '';
  const loaded = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes('Loading success.')) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  });
  try {
    await startedBy(child, loaded, 10_000, 'haproxy');
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${output}`);
  }
  return { port, port6, unixPath, stop };
}

/** One HTTP/1.0 request over `socket`: the status line, the body, and the client's own port. */
export async function httpGet(socket: Socket): Promise<{ status: string; body: string; localPort: number }> {
  // Node forgets the local port once the socket closes: read it while connected.
  if (socket.connecting) await once(socket, 'connect');
  const localPort = socket.localPort ?? 0;
  const { received } = await sendAndCollect(socket, Buffer.from('GET / HTTP/1.0\r\nHost: test\r\n\r\n'));
  const text = received.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  return {
    status: text.slice(0, text.indexOf('\r\n')),
    body: split < 0 ? '' : text.slice(split + 4),
    localPort,
  };
}
