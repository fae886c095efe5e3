/**
 * The splice engine on real loopback sockets: byte integrity, half-close, resets, backend
 * faults, the cap, tryStop and a churn test that must leave no fd behind; the idle timeout,
 * keepalive (seen through `ss`, against the stream engine), and handing live connections to
 * the next engine. Listening sockets come from the addon's listenSocket(), exactly like the fds
 * systemd hands over.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once, type EventEmitter } from 'node:events';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SpliceEngine, type SpliceEngineOptions } from '../../src/engine/splice-engine.js';
import { StreamEngine } from '../../src/engine/stream-engine.js';
import { CONNECT_SECONDS_BOUNDS, DURATION_SECONDS_BOUNDS } from '../../src/engine/types.js';
import {
  loadNative,
  nativeAddonPath,
  type NativeBinding,
  type SocketAddress,
} from '../../src/native/binding.js';

const native = loadNative().binding as NativeBinding | null;
const available = native !== null && typeof native.RelayEngine === 'function';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
const inet = (port: number, address = '127.0.0.1'): SocketAddress => ({ family: 'inet', address, port });

let cleanups: Array<() => unknown> = [];
afterEach(async () => {
  const pending = cleanups.reverse();
  cleanups = [];
  const failures: unknown[] = [];
  for (const cleanup of pending) {
    try {
      await cleanup();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length > 0) throw failures[0];
});

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const next = (emitter: EventEmitter, event: string, ms = 5000): Promise<unknown[]> =>
  withTimeout(once(emitter, event), ms, `'${event}'`);

/** For states no event announces (an fd count settling): checks every 10 ms, bounded. */
async function waitUntil(predicate: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function listenFd(address: SocketAddress = inet(0), backlog = 511): { fd: number; port: number } {
  const fd = native!.listenSocket(address, { type: 'stream', backlog });
  cleanups.push(() => native!.close(fd));
  return { fd, port: native!.fdinfo(fd).localPort };
}

function startEngine(addresses: SocketAddress[], options: Partial<SpliceEngineOptions> = {}) {
  const { fd, port } = listenFd();
  const engine = new SpliceEngine(native!, {
    listeners: [{ fd, label: 'front', backend: { spec: 'the-backend', addresses } }],
    connectionsMax: 256,
    pipeSize: 65536,
    connectTimeoutMs: 0,
    connectionEvents: false,
    ...options,
  });
  cleanups.push(() => engine.destroy());
  engine.start();
  return { engine, fd, port };
}

async function startServer(
  handler: (socket: Socket) => void,
  where: { host: string; port?: number } | { path: string } = { host: '127.0.0.1' },
): Promise<{ server: Server; port: number }> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    handler(socket);
  });
  server.listen('path' in where ? { path: where.path } : { host: where.host, port: where.port ?? 0 });
  await next(server, 'listening');
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  const info = server.address();
  return { server, port: typeof info === 'object' && info ? info.port : 0 };
}

const echo = (socket: Socket): void => void socket.pipe(socket);

function dial(port: number): Socket {
  const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  cleanups.push(() => socket.destroy());
  return socket;
}

interface Exchange {
  received: Buffer;
  error: string | null;
}

/** Reads a socket until it closes; `error` is the code it closed with (ECONNRESET for a reset). */
function collect(socket: Socket, ms = 20_000): Promise<Exchange> {
  const chunks: Buffer[] = [];
  let error: string | null = null;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
  const closed = new Promise<Exchange>((resolve) =>
    socket.on('close', () => resolve({ received: Buffer.concat(chunks), error })),
  );
  return withTimeout(closed, ms, 'socket close');
}

/** Sends `payload`, half-closes, and collects the answer until close. */
function exchange(socket: Socket, payload: Buffer | string, ms?: number): Promise<Exchange> {
  const done = collect(socket, ms);
  socket.end(payload);
  return done;
}

function openFds(): { all: number; pipes: number } {
  let pipes = 0;
  const entries = readdirSync('/proc/self/fd');
  for (const entry of entries) {
    try {
      if (readlinkSync(`/proc/self/fd/${entry}`).startsWith('pipe:')) pipes++;
    } catch {
      // The fd readdir itself used, gone already.
    }
  }
  return { all: entries.length, pipes };
}

function freePort(): number {
  const fd = native!.listenSocket(inet(0), { type: 'stream' });
  const port = native!.fdinfo(fd).localPort;
  native!.close(fd);
  return port;
}

describe.skipIf(!available)('splice engine', () => {
  it('moves 8 MiB each way at the same time, byte for byte, and counts them exactly', async () => {
    const up = randomBytes(8 * 1024 * 1024 + 17);
    const down = randomBytes(9 * 1024 * 1024 + 3);
    let backendGot: Promise<string> = Promise.resolve('');
    const { port: backendPort } = await startServer((socket) => {
      backendGot = collect(socket).then(({ received }) => sha256(received));
      socket.end(down);
    });
    const { engine, port } = startEngine([inet(backendPort)], { pipeSize: 262144 });
    const { received, error } = await exchange(dial(port), up);
    expect(error).toBeNull();
    expect(sha256(received)).toBe(sha256(down));
    expect(await backendGot).toBe(sha256(up));
    await waitUntil(() => engine.active() === 0);
    const [stats] = engine.stats().listeners;
    expect(stats).toMatchObject({ label: 'front', accepted: 1, active: 0, failedRefused: 0 });
    expect(stats!.bytesIn).toBe(BigInt(up.length));
    expect(stats!.bytesOut).toBe(BigInt(down.length));
  });

  it('keeps the reply flowing after the client shut down writing', async () => {
    const { port: backendPort } = await startServer((socket) => {
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('end', () => socket.end(`answer to ${Buffer.concat(chunks).toString()}`));
    });
    const { port } = startEngine([inet(backendPort)]);
    const { received, error } = await exchange(dial(port), 'question');
    expect(error).toBeNull();
    expect(received.toString()).toBe('answer to question');
  });

  it('lets the client keep sending after the backend shut down writing', async () => {
    let backendGot!: Promise<Exchange>;
    const { port: backendPort } = await startServer((socket) => {
      backendGot = collect(socket);
      socket.end('bye');
    });
    const { port } = startEngine([inet(backendPort)]);
    const client = dial(port);
    const clientGot = collect(client);
    await next(client, 'end');
    client.end('late words');
    expect((await clientGot).received.toString()).toBe('bye');
    expect((await backendGot).received.toString()).toBe('late words');
  });

  it('propagates a reset from the backend to the client', async () => {
    const { port: backendPort } = await startServer((socket) => {
      socket.once('data', () => socket.resetAndDestroy());
    });
    const { port } = startEngine([inet(backendPort)]);
    const client = dial(port);
    const got = collect(client);
    client.write('provoke');
    expect((await got).error).toBe('ECONNRESET');
  });

  it('propagates a reset from the client to the backend', async () => {
    let backendSide!: (socket: Socket) => void;
    const accepted = new Promise<Socket>((resolve) => (backendSide = resolve));
    const { port: backendPort } = await startServer((socket) => backendSide(socket));
    const { engine, port } = startEngine([inet(backendPort)], { connectionEvents: true });
    const reasons: string[] = [];
    engine.on('close', ({ reason }) => reasons.push(reason));
    const client = dial(port);
    client.on('error', () => undefined);
    client.write('x');
    const backend = await withTimeout(accepted, 5000, 'backend connection');
    const got = collect(backend);
    await next(backend, 'data');
    client.resetAndDestroy();
    expect((await got).error).toBe('ECONNRESET');
    await waitUntil(() => reasons.length === 1);
    expect(reasons).toEqual(['client-reset']);
  });

  it('serves 200 concurrent connections, each with only its own bytes', async () => {
    const { port: backendPort } = await startServer(echo);
    const { engine, port } = startEngine([inet(backendPort)]);
    const payloads = Array.from({ length: 200 }, () => randomBytes(32 * 1024));
    const results = await Promise.all(payloads.map((p) => exchange(dial(port), p)));
    results.forEach(({ received }, i) => expect(sha256(received)).toBe(sha256(payloads[i]!)));
    await waitUntil(() => engine.active() === 0);
    const [stats] = engine.stats().listeners;
    expect(stats!.accepted).toBe(200);
    expect(stats!.bytesIn).toBe(200n * 32768n);
    expect(stats!.bytesOut).toBe(200n * 32768n);
    for (const [histogram, bounds] of [
      [stats!.connectSeconds, CONNECT_SECONDS_BOUNDS],
      [stats!.durationSeconds, DURATION_SECONDS_BOUNDS],
    ] as const) {
      expect(histogram!.bounds).toEqual(bounds);
      expect(histogram!.count).toBe(200);
      expect(histogram!.counts.reduce((a, b) => a + b, 0)).toBe(200);
      expect(histogram!.sum).toBeGreaterThan(0);
    }
  });

  it('serves the same with two epoll threads sharing the listener', async () => {
    const { port: backendPort } = await startServer(echo);
    const { engine, port } = startEngine([inet(backendPort)], { threads: 2, connectionsMax: 50 });
    const payloads = Array.from({ length: 200 }, () => randomBytes(16 * 1024));
    const results = await Promise.all(payloads.map((p) => exchange(dial(port), p)));
    results.forEach(({ received }, i) => expect(sha256(received)).toBe(sha256(payloads[i]!)));
    await waitUntil(() => engine.active() === 0);
    expect(engine.stats().listeners[0]!.accepted).toBe(200);
    expect(engine.tryStop()).toBe(true);
  });

  describe('backends of every family', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sockrelay-splice-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const abstractName = `sockrelay-splice-test-${process.pid}`;
    it.each([
      ['IPv6', { host: '::1' }, (port: number): SocketAddress => inet(port, '::1')],
      [
        'IPv6 with family inet6',
        { host: '::1' },
        (port: number): SocketAddress => ({ family: 'inet6', address: '::1', port }),
      ],
      [
        'a unix path',
        { path: join(dir, 'backend.sock') },
        (): SocketAddress => ({ family: 'unix', path: join(dir, 'backend.sock'), abstract: false }),
      ],
    ] as const)('reaches %s', async (_, where, address) => {
      const { port: backendPort } = await startServer(echo, where);
      const fixed = address(backendPort);
      const { port } = startEngine([fixed.family === 'inet' ? { ...fixed, family: 'inet6' } : fixed]);
      const payload = randomBytes(1024 * 1024);
      const { received } = await exchange(dial(port), payload);
      expect(sha256(received)).toBe(sha256(payload));
    });

    it('reaches an abstract name', async () => {
      // Node 20 binds abstract names padded to all of sun_path; systemd and the engine use the exact
      // length, so the backend's socket comes from listenSocket() and Node only accepts on it.
      const name: SocketAddress = { family: 'unix', path: abstractName, abstract: true };
      const { fd } = listenFd(name);
      const server = createServer({ allowHalfOpen: true }, echo).listen({ fd: native!.dup(fd) });
      cleanups.push(() => new Promise((resolve) => server.close(resolve)));
      await next(server, 'listening');
      const { port } = startEngine([name]);
      const { received } = await exchange(dial(port), 'abstract');
      expect(received.toString()).toBe('abstract');
    });
  });

  it('tries every backend address in order until one connects', async () => {
    const { port: backendPort } = await startServer(echo);
    const { engine, port } = startEngine([
      inet(freePort()),
      { family: 'inet6', address: '::1', port: backendPort },
      inet(backendPort),
    ]);
    expect((await exchange(dial(port), 'through the third')).received.toString()).toBe('through the third');
    expect(engine.stats().listeners[0]!.failedRefused).toBe(0);
  });

  it('closes the client when the backend refuses, counts it and reports it once', async () => {
    const { engine, port } = startEngine([inet(freePort())]);
    const failed = next(engine, 'connectFailed');
    const { received, error } = await exchange(dial(port), 'anyone?');
    expect(received.length).toBe(0);
    expect(error).toBe('ECONNRESET');
    expect((await failed)[0]).toEqual({
      listener: 'front',
      backend: 'the-backend',
      code: 'ECONNREFUSED',
      count: 1,
    });
    expect(engine.stats().listeners[0]).toMatchObject({ failedRefused: 1, failedTimeout: 0, active: 0 });
  });

  it('retries a refusing backend until the deadline, then gives up', async () => {
    const { engine, port } = startEngine([inet(freePort())], { connectTimeoutMs: 300 });
    const started = Date.now();
    const { error } = await exchange(dial(port), 'anyone?');
    expect(error).toBe('ECONNRESET');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(engine.stats().listeners[0]!.failedRefused).toBe(1);
  });

  it('holds a client while the backend is late, then delivers its bytes intact', async () => {
    const backendPort = freePort();
    const { engine, port } = startEngine([inet(backendPort)], { connectTimeoutMs: 5000 });
    const payload = randomBytes(256 * 1024);
    const client = dial(port);
    const got = exchange(client, payload);
    await next(client, 'connect');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await startServer(echo, { host: '127.0.0.1', port: backendPort });
    const { received, error } = await got;
    expect(error).toBeNull();
    expect(sha256(received)).toBe(sha256(payload));
    expect(engine.stats().listeners[0]!.failedRefused).toBe(0);
  });

  it('gives up on a black-holed backend at the connect deadline', async () => {
    // A listener whose accept queue is full drops further SYNs, so connect() hangs.
    const hole = listenFd(inet(0), 0);
    const filler = dial(hole.port);
    await next(filler, 'connect');
    const { engine, port } = startEngine([inet(hole.port)], { connectTimeoutMs: 600 });
    const failed = next(engine, 'connectFailed', 5000);
    const started = Date.now();
    const { received, error } = await exchange(dial(port), 'hello?', 5000);
    const elapsed = Date.now() - started;
    expect(received.length).toBe(0);
    expect(error).toBe('ECONNRESET');
    expect(elapsed).toBeGreaterThanOrEqual(550);
    expect(elapsed).toBeLessThan(3000);
    expect((await failed)[0]).toMatchObject({ code: 'ETIMEDOUT', count: 1 });
    expect(engine.stats().listeners[0]).toMatchObject({ failedTimeout: 1, failedRefused: 0 });
  });

  it('at the cap leaves the next client in the backlog and serves it when a slot frees', async () => {
    const { port: backendPort } = await startServer(echo);
    const { engine, fd, port } = startEngine([inet(backendPort)], { connectionsMax: 2 });
    const first = dial(port);
    const second = dial(port);
    for (const c of [first, second]) {
      c.write('x');
      await next(c, 'data');
    }
    const third = dial(port);
    const thirdGot = collect(third);
    third.write('third');
    // The third waits in the kernel: the listener is readable, the engine has not taken it.
    expect(await native!.waitReadable([fd], 2000)).toEqual([fd]);
    expect(engine.stats()).toMatchObject({ active: 2, listeners: [{ accepted: 2 }] });
    first.end();
    await next(first, 'close');
    third.end();
    const { received, error } = await thirdGot;
    expect(error).toBeNull();
    expect(received.toString()).toBe('third');
    expect(engine.stats().listeners[0]!.accepted).toBe(3);
  });

  it('tryStop refuses while a connection is open, then stops and leaves new clients queued', async () => {
    const { port: backendPort } = await startServer(echo);
    const { engine, fd, port } = startEngine([inet(backendPort)]);
    const events: string[] = [];
    engine.on('busy', () => events.push('busy'));
    engine.on('idle', () => events.push('idle'));
    const open = dial(port);
    open.write('x');
    await next(open, 'data');
    expect(engine.tryStop()).toBe(false);
    const idle = next(engine, 'idle');
    open.end();
    await idle;
    expect(events).toEqual(['busy', 'idle']);
    expect(engine.tryStop()).toBe(true);

    const late = dial(port);
    const lateGot = exchange(late, 'for the next instance');
    expect(await native!.waitReadable([fd], 2000)).toEqual([fd]);
    expect(engine.stats().listeners[0]!.accepted).toBe(1);
    engine.destroy();
    const successor = new SpliceEngine(native!, {
      listeners: [{ fd, label: 'front', backend: { spec: 'b', addresses: [inet(backendPort)] } }],
      connectionsMax: 4,
      pipeSize: 65536,
      connectTimeoutMs: 0,
      connectionEvents: false,
    });
    cleanups.push(() => successor.destroy());
    successor.start();
    expect((await lateGot).received.toString()).toBe('for the next instance');
  });

  it('keeps the cap within the fd limit it is given', async () => {
    const { port: backendPort } = await startServer(echo);
    // Room for two connections of six fds each, above the engine's reserve of 32.
    const { engine, fd, port } = startEngine([inet(backendPort)], {
      fdLimit: openFds().all + 32 + 2 * 6 + 3,
    });
    const clients = [dial(port), dial(port)];
    for (const c of clients) {
      c.write('x');
      await next(c, 'data');
    }
    const third = dial(port);
    third.write('y');
    expect(await native!.waitReadable([fd], 2000)).toEqual([fd]);
    expect(engine.active()).toBe(2);
    const thirdGot = collect(third);
    clients[0]!.end();
    third.end();
    expect((await thirdGot).received.toString()).toBe('y');
  });

  it('pauses accepting on EMFILE without spinning, and resumes when fds free up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sockrelay-emfile-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const script = join(dir, 'child.mjs');
    writeFileSync(script, EMFILE_CHILD);
    const addon = nativeAddonPath();
    const child = spawn('sh', ['-c', `ulimit -n 128 && exec "${process.execPath}" "${script}" "${addon}"`], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    cleanups.push(() => child.kill('SIGKILL'));
    const messages = createInterface({ input: child.stdout! });
    const waitFor = (match: (m: Record<string, unknown>) => boolean, what: string) =>
      withTimeout(
        new Promise<Record<string, unknown>>((resolve) => {
          const onLine = (line: string) => {
            const message = JSON.parse(line) as Record<string, unknown>;
            if (!match(message)) return;
            messages.off('line', onLine);
            resolve(message);
          };
          messages.on('line', onLine);
        }),
        10_000,
        what,
      );
    const { port } = (await waitFor((m) => 'port' in m, 'child ready')) as { port: number };
    const emfile = waitFor(
      (m) => (m.event as { type?: string; code?: string } | undefined)?.code === 'EMFILE',
      'accept-error EMFILE',
    );
    const clients = [dial(port), dial(port), dial(port)];
    const got = clients.map((c, i) => exchange(c, `client ${i}`));
    expect((await emfile).event).toMatchObject({ type: 'accept-error', syscall: 'accept4' });
    child.stdin!.write('cpu\n');
    const { cpu } = (await waitFor((m) => 'cpu' in m, 'cpu usage')) as {
      cpu: { user: number; system: number };
    };
    // A spinning accept loop burns a whole core; paused, the engine retries ten times a second.
    expect(cpu.user + cpu.system).toBeLessThan(250_000);
    child.stdin!.write('release\n');
    const answers = await Promise.all(got);
    expect(answers.map((a) => a.received.toString())).toEqual(['client 0', 'client 1', 'client 2']);
    child.stdin!.write('exit\n');
  });

  it('never keeps Node alive, and lets it exit cleanly with connections still open', async () => {
    const { code, stdout } = await runChild(EXIT_CHILD);
    expect(stdout).toContain('relayed');
    expect(code).toBe(0);
  });

  it('routes a throwing event listener to uncaughtException instead of swallowing it', async () => {
    const { code, stdout } = await runChild(THROW_CHILD);
    expect(stdout).toContain('uncaught: listener threw');
    expect(code).toBe(0);
  });

  it('stopAccepting lets open connections finish', async () => {
    const { port: backendPort } = await startServer(echo);
    const { engine, fd, port } = startEngine([inet(backendPort)]);
    const open = dial(port);
    open.write('before');
    await next(open, 'data');
    engine.stopAccepting();
    const queued = dial(port);
    queued.on('error', () => undefined);
    expect(await native!.waitReadable([fd], 2000)).toEqual([fd]);
    const { received } = await exchange(open, 'after');
    expect(received.toString()).toBe('after');
    expect(engine.stats().listeners[0]!.accepted).toBe(1);
  });

  it('reports open and close per connection when asked, with labels and byte counts', async () => {
    const { port: backendPort } = await startServer(echo);
    const { engine, port } = startEngine([inet(backendPort)], { connectionEvents: true });
    const opened = next(engine, 'open');
    const closed = next(engine, 'close');
    await exchange(dial(port), 'twelve bytes');
    expect((await opened)[0]).toMatchObject({
      listener: 'front',
      peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
    expect((await closed)[0]).toMatchObject({ listener: 'front', bytesIn: 12, bytesOut: 12, reason: 'done' });
  });

  it('throws TypeError for bad options and a system error for a bad fd', () => {
    const make = (patch: object) => () =>
      new native!.RelayEngine(
        {
          listeners: [{ fd: 0, backend: 0 }],
          backends: [[inet(1)]],
          connectionsMax: 1,
          pipeSize: 0,
          connectTimeoutMs: 0,
          threads: 1,
          connectionEvents: false,
          ...patch,
        },
        () => undefined,
      );
    expect(make({ connectionsMax: 0 })).toThrow(TypeError);
    expect(make({ listeners: [{ fd: 3, backend: 1 }] })).toThrow(TypeError);
    expect(make({ backends: [[{ family: 'inet', address: 'nope', port: 1 }]] })).toThrow(TypeError);
    expect(make({ backends: [[]] })).toThrow(TypeError);
    expect(make({ backends: [[{ family: 'unix', path: 'x'.repeat(200), abstract: false }]] })).toThrow(
      TypeError,
    );
    const engine = make({ listeners: [{ fd: 1_000_000, backend: 0 }] })();
    cleanups.push(() => engine.destroy());
    expect(() => engine.start()).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'epoll_ctl' }));
  });

  it('survives 2,000 connections in bursts with random half-closes and aborts, leaking no fd', async () => {
    const { port: backendPort } = await startServer(echo);
    const { engine, port } = startEngine([inet(backendPort)], { connectTimeoutMs: 2000 });
    const baseline = openFds();
    let checked = 0;
    let aborted = 0;
    for (let burst = 0; burst < 20; burst++) {
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          const client = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
          client.on('error', () => undefined);
          const payload = randomBytes(1 + Math.floor(Math.random() * 128 * 1024));
          const roll = Math.random();
          if (roll < 0.1) {
            await next(client, 'connect');
            client.resetAndDestroy();
            aborted++;
            return;
          }
          if (roll < 0.2) {
            const closed = next(client, 'close', 20_000);
            client.write(payload.subarray(0, payload.length >> 1), () => client.resetAndDestroy());
            aborted++;
            await closed;
            return;
          }
          if (roll < 0.3) {
            // Half-close before sending anything: a clean, empty exchange.
            const { received, error } = await exchange(client, Buffer.alloc(0));
            expect(error).toBeNull();
            expect(received.length).toBe(0);
            checked++;
            return;
          }
          const { received, error } = await exchange(client, payload);
          expect(error).toBeNull();
          expect(sha256(received)).toBe(sha256(payload));
          checked++;
        }),
      );
    }
    await waitUntil(() => engine.active() === 0, 10_000, 'engine idle');
    await waitUntil(
      () => {
        const now = openFds();
        return now.all <= baseline.all && now.pipes <= baseline.pipes;
      },
      10_000,
      'fds back to baseline',
    );
    expect(checked + aborted).toBe(2000);
    const [stats] = engine.stats().listeners;
    // A client reset while still in the backlog is accepted all the same on Linux.
    expect(stats!.accepted).toBe(2000);
    expect(stats!.active).toBe(0);
  }, 60_000);

  it('emits nothing after destroy and lets destroy be called twice', async () => {
    const { port: backendPort } = await startServer(echo);
    const { engine, port } = startEngine([inet(backendPort)], { connectionEvents: true });
    const client = dial(port);
    client.write('x');
    await next(client, 'data');
    const got = collect(client);
    const events: string[] = [];
    for (const name of ['busy', 'idle', 'open', 'close'] as const) engine.on(name, () => events.push(name));
    engine.destroy();
    engine.destroy();
    expect((await got).error).toBe('ECONNRESET');
    await new Promise((resolve) => setImmediate(resolve));
    expect(events).toEqual([]);
    expect(engine.active()).toBe(0);
  });
});

describe.skipIf(!available)('splice engine: idle timeout and keepalive', () => {
  it('closes a connection silent for the idle timeout with a FIN both ways, and keeps a busy one', async () => {
    let backendSide!: (socket: Socket) => void;
    const accepted = new Promise<Socket>((resolve) => (backendSide = resolve));
    const { port: backendPort } = await startServer((socket) => {
      socket.pipe(socket);
      backendSide(socket);
    });
    const { engine, port } = startEngine([inet(backendPort)], {
      connectionIdleTimeoutMs: 400,
      connectionEvents: true,
    });
    const reasons: string[] = [];
    engine.on('close', ({ reason }) => reasons.push(reason));
    const silent = dial(port);
    // Taken before the last byte moves, so the timeout cannot look short on a loaded machine.
    const since = Date.now();
    silent.write('hi');
    await next(silent, 'data');
    const silentEnded = next(silent, 'end', 5000);
    const silentGot = collect(silent);
    const backendGot = collect(await withTimeout(accepted, 5000, 'backend connection'));
    const busy = dial(port);
    const ticker = setInterval(() => busy.write('.'), 50);
    cleanups.push(() => clearInterval(ticker));
    // The client sees its end (a FIN, not a reset) at the timeout, give or take a sweep.
    await silentEnded;
    const elapsed = Date.now() - since;
    expect(elapsed).toBeGreaterThanOrEqual(395);
    expect(elapsed).toBeLessThan(1500);
    silent.end();
    expect((await silentGot).error).toBeNull();
    expect((await backendGot).error).toBeNull();
    await waitUntil(() => reasons.length === 1, 5000, 'close event');
    expect(reasons).toEqual(['idle timeout']);
    clearInterval(ticker);
    const busyGot = collect(busy);
    busy.end('!');
    expect((await busyGot).error).toBeNull();
    await waitUntil(() => reasons.length === 2, 5000, 'close event');
    expect(reasons).toEqual(['idle timeout', 'done']);
  });

  it('counts bytes that trickle one way only as activity', async () => {
    const { port: backendPort } = await startServer((socket) => {
      socket.resume();
      const ticker = setInterval(() => socket.write('.'), 50);
      socket.on('close', () => clearInterval(ticker));
    });
    const { engine, port } = startEngine([inet(backendPort)], { connectionIdleTimeoutMs: 200 });
    const client = dial(port);
    let got = 0;
    client.on('data', (chunk: Buffer) => (got += chunk.length));
    await waitUntil(() => got >= 12, 5000, 'a dozen ticks');
    expect(client.destroyed).toBe(false);
    expect(engine.active()).toBe(1);
  });

  function relayWith(engineName: 'splice' | 'stream', backendPort: number, keepaliveMs: number) {
    const { fd, port } = listenFd();
    const options = {
      listeners: [{ fd, label: 'front', backend: { spec: 'b', addresses: [inet(backendPort)] } }],
      connectionsMax: 16,
      pipeSize: 65536,
      connectTimeoutMs: 0,
      connectionEvents: false,
      keepaliveMs,
    };
    const engine =
      engineName === 'splice' ? new SpliceEngine(native!, options) : new StreamEngine(options, native!);
    cleanups.push(() => engine.destroy());
    engine.start();
    return { engine, port };
  }

  /** `ss` lines for established TCP sockets on `port`, either end. */
  function sockets(port: number): string[] {
    const out = execFileSync('ss', [
      '-tnoH',
      'state',
      'established',
      `( sport = :${port} or dport = :${port} )`,
    ]);
    return out.toString().trim().split('\n').filter(Boolean);
  }
  const keepaliveSeconds = (line: string): number | null => {
    const match = /timer:\(keepalive,(?:(\d+)min)?(\d+)(sec|ms)/.exec(line);
    if (!match) return null;
    return Number(match[1] ?? 0) * 60 + Number(match[2]) / (match[3] === 'ms' ? 1000 : 1);
  };

  // The proxy's own sockets are in this process, and the kernel shows their keepalive timers: the
  // client-side one is the socket whose local port is the listener's, the backend-side one the
  // socket the backend sees as its peer. The test's own sockets carry no keepalive.
  it.each(['splice', 'stream'] as const)(
    'sets TCP keepalive on both sockets of a connection like the other engine (%s)',
    async (engineName) => {
      let peerPort = 0;
      const { port: backendPort } = await startServer((socket) => {
        peerPort = socket.remotePort!;
        socket.pipe(socket);
      });
      for (const keepaliveMs of [30_000, 0]) {
        const running = relayWith(engineName, backendPort, keepaliveMs);
        const client = dial(running.port);
        client.write('x');
        await next(client, 'data');
        const clientPort = client.localPort!;
        const toClient = (): string | undefined =>
          sockets(running.port).find((l) =>
            new RegExp(`127\\.0\\.0\\.1:${running.port}\\s+127\\.0\\.0\\.1:${clientPort}\\b`).test(l),
          );
        const toBackend = (): string | undefined =>
          sockets(backendPort).find((l) =>
            new RegExp(`127\\.0\\.0\\.1:${peerPort}\\s+127\\.0\\.0\\.1:${backendPort}\\b`).test(l),
          );
        const ours = (): string | undefined =>
          sockets(running.port).find((l) =>
            new RegExp(`127\\.0\\.0\\.1:${clientPort}\\s+127\\.0\\.0\\.1:${running.port}\\b`).test(l),
          );
        // Right after the exchange a socket may still show its retransmit timer; idle, keepalive's.
        if (keepaliveMs > 0) {
          await waitUntil(
            () => keepaliveSeconds(toClient() ?? '') !== null && keepaliveSeconds(toBackend() ?? '') !== null,
            5000,
            'keepalive timers',
          );
          for (const line of [toClient()!, toBackend()!]) {
            expect(keepaliveSeconds(line)).toBeGreaterThan(20);
            expect(keepaliveSeconds(line)).toBeLessThanOrEqual(30);
          }
        } else {
          expect(toClient()).toBeDefined();
          expect(keepaliveSeconds(toClient()!)).toBeNull();
          expect(keepaliveSeconds(toBackend() ?? '')).toBeNull();
        }
        expect(keepaliveSeconds(ours()!)).toBeNull();
        client.destroy();
        running.engine.destroy();
      }
    },
  );
});

/** Bytes waiting in the receive queue of the established socket `local` → `peer` on loopback. */
function receiveQueue(local: number, peer: number): number {
  const out = execFileSync('ss', [
    '-tnH',
    'state',
    'established',
    `( sport = :${local} and dport = :${peer} )`,
  ]);
  return Number(out.toString().trim().split(/\s+/)[0] ?? 0);
}

describe.skipIf(!available)('splice engine: handover', () => {
  /** A second engine on the same listening fd, as the next instance would build it. */
  function successor(fd: number, backendPort: number, options: Partial<SpliceEngineOptions> = {}) {
    const engine = new SpliceEngine(native!, {
      listeners: [{ fd, label: 'front', backend: { spec: 'the-backend', addresses: [inet(backendPort)] } }],
      connectionsMax: 256,
      pipeSize: 65536,
      connectTimeoutMs: 0,
      connectionEvents: true,
      ...options,
    });
    cleanups.push(() => engine.destroy());
    return engine;
  }

  it('carries a client streaming through an echo backend to the next engine: every byte once, in order', async () => {
    let accepted = 0;
    const { port: backendPort } = await startServer((socket) => {
      accepted++;
      echo(socket);
    });
    const { engine: first, fd, port } = startEngine([inet(backendPort)], { pipeSize: 262144 });
    const baseline = openFds();
    const client = dial(port);
    const got = collect(client);
    const payload = randomBytes(24 * 1024 * 1024);
    let sent = 0;
    // Writes without pause for the whole test, so the export catches bytes in both pipes.
    const pumped = (async () => {
      while (sent < payload.length) {
        const chunk = payload.subarray(sent, sent + 32 * 1024);
        sent += chunk.length;
        // Paced, so the stream is still going when the export comes and after the next engine took over.
        if (!client.write(chunk)) await once(client, 'drain');
        else await new Promise((resolve) => setTimeout(resolve, 1));
      }
      client.end();
    })();
    await waitUntil(() => first.stats().listeners[0]!.bytesIn > 2_000_000n, 10_000, 'streaming');
    const idle = next(first, 'idle');
    const handed = await first.exportConnections(5000);
    await idle;
    expect(handed).toHaveLength(1);
    expect(first.active()).toBe(0);
    const [h] = handed;
    const carried = first.stats().listeners[0]!;
    // Nothing was left in the pipes: what the first engine read, it also wrote.
    expect(h).toMatchObject({ listener: 0, bytesIn: carried.bytesIn, bytesOut: carried.bytesOut });
    expect(sent).toBeLessThan(payload.length);

    const second = successor(fd, backendPort);
    const closed = next(second, 'close', 20_000);
    second.adoptConnections(handed);
    expect(second.active()).toBe(1);
    second.start();
    first.destroy();
    await pumped;
    const { received, error } = await got;
    expect(error).toBeNull();
    expect(received.length).toBe(payload.length);
    expect(sha256(received)).toBe(sha256(payload));
    expect(accepted).toBe(1);
    // The connection's own totals carry on; the listener counts only what crossed this engine.
    expect((await closed)[0]).toMatchObject({
      bytesIn: payload.length,
      bytesOut: payload.length,
      reason: 'done',
    });
    const totals = second.stats().listeners[0]!;
    expect(totals.bytesIn + carried.bytesIn).toBe(BigInt(payload.length));
    expect(totals.bytesOut + carried.bytesOut).toBe(BigInt(payload.length));
    expect(totals).toMatchObject({ accepted: 0, active: 0 });
    await waitUntil(
      () => openFds().all <= baseline.all && openFds().pipes <= baseline.pipes,
      5000,
      'fds back to baseline',
    );
  }, 30_000);

  it('carries a half-closed connection: the client already finished, the reply comes between engines', async () => {
    let backendSide!: (socket: Socket) => void;
    const accepted = new Promise<Socket>((resolve) => (backendSide = resolve));
    const { port: backendPort } = await startServer((socket) => backendSide(socket));
    const { engine: first, fd, port } = startEngine([inet(backendPort)]);
    const client = dial(port);
    const got = collect(client);
    client.end('question');
    const backend = await withTimeout(accepted, 5000, 'backend connection');
    const asked = collect(backend);
    await next(backend, 'end');
    const handed = await first.exportConnections(1000);
    expect(handed).toHaveLength(1);
    // The answer and the backend's FIN arrive while no engine holds the connection: both FINs are
    // through, and the socket the next engine adopts is closed for writing as well as for reading.
    backend.end('answer');
    await next(backend, 'finish');
    const second = successor(fd, backendPort);
    const closed = next(second, 'close');
    second.adoptConnections(handed);
    second.start();
    first.destroy();
    const { received, error } = await got;
    expect(error).toBeNull();
    expect(received.toString()).toBe('answer');
    expect((await asked).received.toString()).toBe('question');
    expect((await closed)[0]).toMatchObject({ bytesIn: 8, bytesOut: 6, reason: 'done' });
  });

  it('sends the PROXY header once: an adopted connection does not send it again', async () => {
    const { port: backendPort } = await startServer(echo);
    const { fd, port } = listenFd();
    const options = (): SpliceEngineOptions => ({
      listeners: [
        { fd, label: 'front', backend: { spec: 'b', addresses: [inet(backendPort)] }, proxyProtocol: 'v1' },
      ],
      connectionsMax: 16,
      pipeSize: 65536,
      connectTimeoutMs: 0,
      connectionEvents: false,
    });
    const first = new SpliceEngine(native!, options());
    cleanups.push(() => first.destroy());
    first.start();
    const client = dial(port);
    const chunks: Buffer[] = [];
    client.on('data', (chunk: Buffer) => chunks.push(chunk));
    client.write('a');
    await waitUntil(() => Buffer.concat(chunks).toString().endsWith('a'), 5000, 'first echo');
    const clientPort = client.localPort!;
    const second = new SpliceEngine(native!, options());
    cleanups.push(() => second.destroy());
    second.adoptConnections(await first.exportConnections(1000));
    second.start();
    const done = collect(client);
    client.end('b');
    await done;
    const header = `PROXY TCP4 127.0.0.1 127.0.0.1 ${clientPort} ${port}\r\n`;
    expect(Buffer.concat(chunks).toString()).toBe(`${header}ab`);
    expect(second.stats().listeners[0]!.bytesIn).toBe(1n);
  });

  it('keeps a connection whose peer does not read, and drains it as before', async () => {
    let backendSide!: (socket: Socket) => void;
    const accepted = new Promise<Socket>((resolve) => (backendSide = resolve));
    const { port: backendPort } = await startServer((socket) => {
      socket.pause();
      backendSide(socket);
    });
    const { engine, port } = startEngine([inet(backendPort)]);
    const client = dial(port);
    const got = collect(client);
    const payload = randomBytes(16 * 1024 * 1024);
    client.end(payload);
    const backend = await withTimeout(accepted, 5000, 'backend connection');
    // Stuck: bytes wait in the proxy's client-side socket, which it would read if its pipe had
    // room, and nothing more reaches the backend.
    const clientPort = client.localPort!;
    let last = -1n;
    await waitUntil(
      () => {
        const now = engine.stats().listeners[0]!.bytesIn;
        const stalled = now === last && now > 0n;
        last = now;
        return stalled && receiveQueue(port, clientPort) > 0;
      },
      10_000,
      'the backend to stop reading',
    );
    const started = Date.now();
    expect(await engine.exportConnections(300)).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(engine.active()).toBe(1);
    const hash = createHash('sha256');
    let length = 0;
    backend.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
    });
    backend.on('end', () => backend.end());
    backend.resume();
    expect((await got).error).toBeNull();
    expect(length).toBe(payload.length);
    expect(hash.digest('hex')).toBe(sha256(payload));
  });

  it('keeps a connection still connecting, which then relays in the same engine', async () => {
    const backendPort = freePort();
    const { engine, port } = startEngine([inet(backendPort)], { connectTimeoutMs: 10_000 });
    const client = dial(port);
    const got = exchange(client, 'patience');
    await waitUntil(() => engine.active() === 1, 5000, 'accepted');
    expect(await engine.exportConnections(100)).toEqual([]);
    expect(engine.active()).toBe(1);
    await startServer(echo, { host: '127.0.0.1', port: backendPort });
    expect((await got).received.toString()).toBe('patience');
  });

  it('adopts only before start, and resets adopted connections of an engine never started', async () => {
    const { port: backendPort } = await startServer(echo);
    const { engine: first, fd, port } = startEngine([inet(backendPort)]);
    const client = dial(port);
    client.write('x');
    await next(client, 'data');
    const got = collect(client);
    const handed = await first.exportConnections(1000);
    expect(handed).toHaveLength(1);
    const started = successor(fd, backendPort);
    started.start();
    expect(() => started.adoptConnections(handed)).toThrow(expect.objectContaining({ code: 'EALREADY' }));
    const unstarted = successor(fd, backendPort);
    expect(() => unstarted.adoptConnections([{ ...handed[0]!, listener: 1 }])).toThrow(TypeError);
    unstarted.adoptConnections(handed);
    expect(unstarted.tryStop()).toBe(false);
    unstarted.destroy();
    expect((await got).error).toBe('ECONNRESET');
  });

  it('exports, from an engine not started, the connections it adopted', async () => {
    const { port: backendPort } = await startServer(echo);
    const { engine: first, fd, port } = startEngine([inet(backendPort)]);
    const client = dial(port);
    client.write('x');
    await next(client, 'data');
    const handed = await first.exportConnections(1000);
    const middle = successor(fd, backendPort);
    middle.adoptConnections(handed);
    const passed = await middle.exportConnections(1000);
    expect(passed).toEqual(handed);
    expect(middle.active()).toBe(0);
    const last = successor(fd, backendPort);
    last.adoptConnections(passed);
    last.start();
    expect((await exchange(client, 'y')).received.toString()).toBe('y');
  });
});

/** Runs a child script given the addon's path; its exit code and output, bounded in time. */
async function runChild(source: string): Promise<{ code: number | null; stdout: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sockrelay-child-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'child.mjs');
  writeFileSync(script, source);
  const child = spawn(process.execPath, [script, nativeAddonPath()], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => child.kill('SIGKILL'));
  let stdout = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const [code] = (await next(child, 'exit', 10_000)) as [number | null];
  return { code, stdout };
}

/** Relays one connection, then lets every handle of its own go without destroy(): Node must exit 0. */
const EXIT_CHILD = `
import net from 'node:net';
import { createRequire } from 'node:module';
const b = createRequire(import.meta.url)(process.argv[2]);
const backend = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1', () => {
  const fd = b.listenSocket({ family: 'inet', address: '127.0.0.1', port: 0 }, { type: 'stream' });
  const engine = new b.RelayEngine({
    listeners: [{ fd, backend: 0 }],
    backends: [[{ family: 'inet', address: '127.0.0.1', port: backend.address().port }]],
    connectionsMax: 10, pipeSize: 65536, connectTimeoutMs: 0, threads: 2, connectionEvents: true,
  }, () => {});
  engine.start();
  const client = net.connect(b.fdinfo(fd).localPort, '127.0.0.1');
  client.write('x');
  client.once('data', () => {
    console.log('relayed');
    client.destroy();
    backend.close();
  });
});
`;

/** An event listener that throws. */
const THROW_CHILD = `
import net from 'node:net';
import { createRequire } from 'node:module';
const b = createRequire(import.meta.url)(process.argv[2]);
process.on('uncaughtException', (err) => {
  console.log('uncaught: ' + err.message);
  process.exit(0);
});
const fd = b.listenSocket({ family: 'inet', address: '127.0.0.1', port: 0 }, { type: 'stream' });
const engine = new b.RelayEngine({
  listeners: [{ fd, backend: 0 }],
  backends: [[{ family: 'inet', address: '127.0.0.1', port: 1 }]],
  connectionsMax: 10, pipeSize: 65536, connectTimeoutMs: 0, threads: 1, connectionEvents: false,
}, () => { throw new Error('listener threw'); });
engine.start();
net.connect(b.fdinfo(fd).localPort, '127.0.0.1').on('error', () => {});
setTimeout(() => process.exit(1), 5000);
`;

/** A process that exhausts its own fd table after starting an engine, then obeys stdin. */
const EMFILE_CHILD = `
import { createRequire } from 'node:module';
import { openSync, closeSync } from 'node:fs';
import net from 'node:net';
const b = createRequire(import.meta.url)(process.argv[2]);
const send = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const backend = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
backend.listen(0, '127.0.0.1', () => {
  const fd = b.listenSocket({ family: 'inet', address: '127.0.0.1', port: 0 }, { type: 'stream' });
  const engine = new b.RelayEngine({
    listeners: [{ fd, backend: 0 }],
    backends: [[{ family: 'inet', address: '127.0.0.1', port: backend.address().port }]],
    connectionsMax: 100, pipeSize: 65536, connectTimeoutMs: 0, threads: 1, connectionEvents: false,
  }, (events) => { for (const event of events) send({ event }); });
  engine.start();
  const port = b.fdinfo(fd).localPort;
  const fillers = [];
  try { for (let i = 0; i < 100000; i++) fillers.push(openSync('/dev/null', 'r')); } catch {}
  send({ port, fillers: fillers.length });
  process.stdin.on('data', (data) => {
    for (const command of data.toString().split('\\n')) {
      if (command === 'cpu') {
        const start = process.cpuUsage();
        setTimeout(() => send({ cpu: process.cpuUsage(start) }), 1000);
      } else if (command === 'release') {
        for (const f of fillers.splice(0)) closeSync(f);
      } else if (command === 'exit') {
        engine.destroy();
        process.exit(0);
      }
    }
  });
});
`;
