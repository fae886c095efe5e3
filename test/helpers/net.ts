/** Real servers and clients on loopback for tests, with cleanup registered by the caller. */
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
export { randomBytes };

export interface TestServer {
  server: Server;
  port: number;
  /** For TCP: host:port; for unix: the path. */
  address: string;
  sockets: Set<Socket>;
  accepted: number;
  close(): Promise<void>;
}

export async function startServer(
  handler: (socket: Socket) => void,
  listen: { host: string; port?: number } | { path: string } = { host: '127.0.0.1' },
): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const state = { accepted: 0 };
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    state.accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    handler(socket);
  });
  server.listen('path' in listen ? { path: listen.path } : { host: listen.host, port: listen.port ?? 0 });
  await once(server, 'listening');
  const info = server.address();
  const port = typeof info === 'object' && info ? (info as AddressInfo).port : 0;
  const address =
    'path' in listen
      ? listen.path
      : listen.host.includes(':')
        ? `[${listen.host}]:${port}`
        : `${listen.host}:${port}`;
  return {
    server,
    port,
    address,
    sockets,
    get accepted() {
      return state.accepted;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Echoes everything and half-closes back when the client half-closes. */
export const echo = (socket: Socket): void => {
  socket.pipe(socket);
};

/** Reads until EOF, then answers with the sha256 of what it read and its length, and closes. */
export const hashReply = (socket: Socket): void => {
  const hash = createHash('sha256');
  let length = 0;
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    length += chunk.length;
  });
  socket.on('end', () => socket.end(`${hash.digest('hex')} ${length}`));
};

/** Connects to host:port or a unix path (abstract with a leading @). */
export function dial(target: string | number): Socket {
  if (typeof target === 'number') return connect({ host: '127.0.0.1', port: target, allowHalfOpen: true });
  if (target.startsWith('/')) return connect({ path: target, allowHalfOpen: true });
  if (target.startsWith('@')) return connect({ path: `\0${target.slice(1)}`, allowHalfOpen: true });
  const colon = target.lastIndexOf(':');
  const host = target.slice(0, colon).replace(/^\[|\]$/g, '');
  return connect({ host, port: Number(target.slice(colon + 1)), allowHalfOpen: true });
}

export interface Exchange {
  received: Buffer;
  /** Set when the socket ended with an error (ECONNRESET for a reset). */
  error: NodeJS.ErrnoException | null;
}

/** Collects everything a socket receives until it closes. */
export function collect(socket: Socket, timeoutMs = 20_000): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let error: NodeJS.ErrnoException | null = null;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close within ${timeoutMs} ms (received ${Buffer.concat(chunks).length} bytes)`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => (error = err));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(chunks), error });
    });
  });
}

/** Sends `payload`, half-closes, and resolves with what came back before the close. */
export async function sendAndCollect(socket: Socket, payload: Buffer, timeoutMs?: number): Promise<Exchange> {
  const done = collect(socket, timeoutMs);
  socket.end(payload);
  return done;
}

export function tempDir(prefix = 'sockrelay-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * The kernel's ephemeral range (ip_local_port_range): where it picks a port for every connect() and
 * every bind to port 0 on the host.
 */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number);
    if (low! > 0 && high! >= low!) return [low!, high!];
  } catch {
    // Not Linux's procfs: assume its default.
  }
  return [32768, 60999];
}

/** Whether `port` can be bound on `host` right now; released again at once. */
async function bindsNow(host: string, port: number, protocol: 'tcp' | 'udp'): Promise<boolean> {
  if (protocol === 'udp') {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const bound = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(port, host, () => resolve(true));
    });
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    return bound;
  }
  const server = createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => resolve(true));
  });
  if (bound) await new Promise<void>((resolve) => server.close(() => resolve()));
  return bound;
}

/**
 * A port that nothing listens on, for a listener a test starts later (a proxy's --listen, a backend
 * that comes up late) or for a backend that must refuse. Never one of the ephemeral range: a port
 * released there is the kernel's to give to the next connect() of any process, and under a load of
 * short connections (the bench's churn workload) it is taken within seconds, so the test's own bind
 * then fails with EADDRINUSE. Outside the range only another bind by number can take it.
 */
export async function freePort(host = '127.0.0.1', protocol: 'tcp' | 'udp' = 'tcp'): Promise<number> {
  const [low, high] = ephemeralRange();
  const below = Math.max(0, low - 10_000); // 10000 up to the range
  const above = Math.max(0, 65_535 - high); // after it
  for (let tries = 0; tries < 100 && below + above > 0; tries++) {
    const pick = Math.floor(Math.random() * (below + above));
    const port = pick < below ? 10_000 + pick : high + 1 + (pick - below);
    if (await bindsNow(host, port, protocol)) return port;
  }
  throw new Error(`no free port outside the ephemeral range ${low}-${high}`);
}

export function openFdCount(pid: number | 'self' = 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}
