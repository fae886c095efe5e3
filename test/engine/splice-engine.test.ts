/**
 * The splice engine on real loopback sockets: byte integrity, half-close, resets, backend
 * faults beyond the contract suite (test/engine/contract.test.ts): the fd budget,
 * EMFILE, teardown, argument errors; the idle timeout, keepalive (seen through `ss`), pipes that
 * grow only for bulk data, and handing live connections to the next engine. Listening sockets come
 * from the addon's listenSocket(), exactly like the fds systemd hands over.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once, type EventEmitter } from 'node:events';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { pipeMaxSize } from '../../src/config/limits.js';
import { METRICS_CONNECTIONS_MAX } from '../../src/engine/fd-budget.js';
import { SpliceEngine, type SpliceEngineOptions } from '../../src/engine/splice-engine.js';
import {
  loadNative,
  nativeAddonPath,
  type NativeBinding,
  type SocketAddress,
} from '../../src/native/binding.js';
import { has } from '../helpers/requires.js';
import { freePort } from '../helpers/net.js';

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

const next = (emitter: EventEmitter, event: string, ms = 5000): Promise<unknown[]> =>
  once(emitter, event, { signal: AbortSignal.timeout(ms) });

/** The backend's side of the connection the engine made, once the backend has accepted it. */
function backendConnection(accepted: () => Socket | undefined): Promise<Socket> {
  return vi.waitFor(
    () => {
      const socket = accepted();
      if (!socket) throw new Error('the backend has not accepted a connection yet');
      return socket;
    },
    { timeout: 5000 },
  );
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
async function collect(socket: Socket, ms = 20_000): Promise<Exchange> {
  const chunks: Buffer[] = [];
  let error: string | null = null;
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
  // Not events.once(socket, 'close'): it rejects on the 'error' a reset emits first.
  let closed = false;
  socket.on('close', () => (closed = true));
  await vi.waitFor(() => expect(closed, 'socket close').toBe(true), { timeout: ms, interval: 5 });
  return { received: Buffer.concat(chunks), error };
}

/** Resumes a paused socket and resolves what it reads until the peer's FIN, which it answers. */
async function drain(socket: Socket, ms = 20_000): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('end', () => socket.end());
  const ended = next(socket, 'end', ms);
  socket.resume();
  await ended;
  return Buffer.concat(chunks);
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

const hasSs = has('ss');

describe.skipIf(!available)('splice engine', () => {
  it('retries a refusing backend until the deadline, then gives up', async () => {
    const { engine, port } = startEngine([inet(await freePort())], { connectTimeoutMs: 300 });
    const started = Date.now();
    const { error } = await exchange(dial(port), 'anyone?');
    expect(error).toBe('ECONNRESET');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(engine.stats().listeners[0]!.failedRefused).toBe(1);
  });

  it('reports a refusing backend as refused even when the engine runs late past the deadline', async () => {
    // On a busy machine the retry due just before the deadline can start after it; the attempt's
    // refusal is then on its way when the deadline is judged. Stopping the whole process makes that
    // lateness certain.
    const { child, waitFor } = startChild(LATE_CHILD, { args: [String(await freePort())] });
    const { port } = (await waitFor((m) => 'port' in m, 'child ready')) as { port: number };
    const done = exchange(dial(port), 'anyone?');
    await waitFor((m) => (m.event as { type?: string } | undefined)?.type === 'open', 'open event');
    child.kill('SIGSTOP');
    // The stall itself: longer than the whole 300 ms connect timeout.
    await delay(450);
    child.kill('SIGCONT');
    expect((await done).error).toBe('ECONNRESET');
    const failed = await waitFor(
      (m) => (m.event as { type?: string } | undefined)?.type === 'connect-failed',
      'connect-failed event',
    );
    expect(failed.event).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect' });
  });

  it('keeps the cap within the fd limit it is given', async () => {
    const { port: backendPort } = await startServer(echo);
    // Room for two connections of six fds each, above the reserve of 32 and the 16 metrics connections.
    const { engine, fd, port } = startEngine([inet(backendPort)], {
      fdLimit: openFds().all + 32 + METRICS_CONNECTIONS_MAX + 2 * 6 + 3,
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
    const { child, waitFor } = startChild(EMFILE_CHILD, { ulimitFiles: 128 });
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
    expect((await closed)[0]).toMatchObject({ listener: 'front', bytesIn: 12, bytesOut: 12, reason: 'eof' });
  });

  it('throws TypeError for bad options and a system error for a bad fd', () => {
    // Every listener fd given is the engine's, refused or not: these are sockets of their own.
    const socket = (): number => native!.listenSocket(inet(0), { type: 'stream' });
    const make = (patch: object) => () =>
      new native!.RelayEngine(
        {
          listeners: [{ fd: null, backend: 0 }],
          backends: [[inet(1)]],
          connectionsMax: 1,
          pipeSize: 0,
          connectTimeoutMs: 0,
          connectionEvents: false,
          ...patch,
        },
        () => undefined,
      );
    expect(make({ connectionsMax: 0 })).toThrow(TypeError);
    expect(make({ listeners: [{ fd: socket(), backend: 1 }] })).toThrow(TypeError);
    expect(make({ backends: [[{ family: 'inet', address: 'nope', port: 1 }]] })).toThrow(TypeError);
    expect(make({ backends: [[]] })).toThrow(TypeError);
    expect(make({ backends: [[{ family: 'unix', path: 'x'.repeat(200), abstract: false }]] })).toThrow(
      TypeError,
    );
    const engine = make({ listeners: [{ fd: 1_000_000, backend: 0 }] })();
    cleanups.push(() => engine.destroy());
    expect(() => engine.start()).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'epoll_ctl' }));
  });

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
    let backendSide: Socket | undefined;
    const { port: backendPort } = await startServer((socket) => {
      socket.pipe(socket);
      backendSide = socket;
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
    const backendGot = collect(await backendConnection(() => backendSide));
    const busy = dial(port);
    const ticker = setInterval(() => busy.write('.'), 50);
    cleanups.push(() => clearInterval(ticker));
    // The client sees its end (a FIN, not a reset) once the timeout has passed, never before it;
    // that it comes at all while the busy one stays open is what `silentEnded` waits for.
    await silentEnded;
    expect(Date.now() - since).toBeGreaterThanOrEqual(395);
    silent.end();
    expect((await silentGot).error).toBeNull();
    expect((await backendGot).error).toBeNull();
    await expect.poll(() => reasons.length === 1, { timeout: 5000, message: 'close event' }).toBe(true);
    expect(reasons).toEqual(['idle-timeout']);
    clearInterval(ticker);
    const busyGot = collect(busy);
    busy.end('!');
    expect((await busyGot).error).toBeNull();
    await expect.poll(() => reasons.length === 2, { timeout: 5000, message: 'close event' }).toBe(true);
    expect(reasons).toEqual(['idle-timeout', 'eof']);
  });

  it.skipIf(!hasSs)('counts bytes that trickle one way only as activity', async () => {
    const { port: backendPort } = await startServer((socket) => {
      socket.resume();
      const ticker = setInterval(() => socket.write('.'), 50);
      socket.on('close', () => clearInterval(ticker));
    });
    const { engine, port } = startEngine([inet(backendPort)], { connectionIdleTimeoutMs: 200 });
    const client = dial(port);
    let got = 0;
    client.on('data', (chunk: Buffer) => (got += chunk.length));
    await expect.poll(() => got >= 12, { timeout: 5000, message: 'a dozen ticks' }).toBe(true);
    expect(client.destroyed).toBe(false);
    expect(engine.active()).toBe(1);
  });

  function relayWith(backendPort: number, keepaliveMs: number) {
    const { fd, port } = listenFd();
    const options = {
      listeners: [{ fd, label: 'front', backend: { spec: 'b', addresses: [inet(backendPort)] } }],
      connectionsMax: 16,
      pipeSize: 65536,
      connectTimeoutMs: 0,
      connectionEvents: false,
      keepaliveMs,
    };
    const engine = new SpliceEngine(native!, options);
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
  it('sets TCP keepalive on both sockets of a connection, as Node setKeepAlive sets it', async () => {
    let peerPort = 0;
    const { port: backendPort } = await startServer((socket) => {
      peerPort = socket.remotePort!;
      socket.pipe(socket);
    });
    for (const keepaliveMs of [30_000, 0]) {
      const running = relayWith(backendPort, keepaliveMs);
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
        await expect
          .poll(
            () => keepaliveSeconds(toClient() ?? '') !== null && keepaliveSeconds(toBackend() ?? '') !== null,
            { timeout: 5000, message: 'keepalive timers' },
          )
          .toBe(true);
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
  });
});

const PIPE_SIZES = fileURLToPath(new URL('../helpers/pipe-sizes.py', import.meta.url));
/** The kernel's size of a new pipe (16 pages), which an unprivileged user keeps below the pipe quota. */
const PIPE_DEFAULT = 65536;

/** Size of each pipe this process holds, by inode. */
function pipeSizes(): Map<string, number> {
  const out = execFileSync('python3', [PIPE_SIZES, String(process.pid)])
    .toString()
    .trim();
  return new Map(
    out
      .split('\n')
      .map((line) => line.split(' ') as [string, string])
      .map(([i, n]) => [i, Number(n)]),
  );
}

describe.skipIf(!available || pipeMaxSize() <= PIPE_DEFAULT)('splice engine: pipes', () => {
  it('keeps the default pipe for a trickle and grows one to pipeSize once a read fills half of it', async () => {
    const pipeSize = Math.min(1024 * 1024, pipeMaxSize());
    let backendSide: Socket | undefined;
    const { port: backendPort } = await startServer((socket) => {
      socket.pause();
      backendSide = socket;
    });
    const { engine, port } = startEngine([inet(backendPort)], { pipeSize });
    const before = pipeSizes();
    const client = dial(port);
    client.write('x');
    await expect.poll(() => engine.stats().listeners[0]!.bytesIn, { timeout: 5000 }).toBe(1n);
    // Sizes of the pipes made since: the connection's two, and any this process made meanwhile.
    const ours = (): number[] =>
      [...pipeSizes()].filter(([inode]) => !before.has(inode)).map(([, size]) => size);
    const grown = (): number[] => ours().filter((size) => size > PIPE_DEFAULT);
    // A pipe made for the byte, not grown by it: a flow that never moves bulk keeps 16 pages of the
    // user's pipe quota, not pipeSize. Emptied, it went back to the pool.
    expect(ours().length).toBeGreaterThanOrEqual(1);
    expect(grown()).toEqual([]);
    expect(engine.stats().pipes).toMatchObject({ inUse: 0 });
    // The backend reads nothing: the client's bytes pile up in the proxy, whose reads fill the pipe.
    const payload = randomBytes(16 * 1024 * 1024);
    const got = collect(client);
    client.end(payload);
    await expect
      .poll(grown, { timeout: 10_000, message: 'the client→backend pipe to grow' })
      .toEqual([pipeSize]);
    // Grown while holding bytes: every one of them still arrives, once and in order.
    const backend = await backendConnection(() => backendSide);
    const received = drain(backend);
    expect((await got).error).toBeNull();
    expect(sha256(await received)).toBe(sha256(Buffer.concat([Buffer.from('x'), payload])));
  });
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
    await expect
      .poll(() => first.stats().listeners[0]!.bytesIn > 2_000_000n, { timeout: 10_000, message: 'streaming' })
      .toBe(true);
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
      reason: 'eof',
    });
    const totals = second.stats().listeners[0]!;
    expect(totals.bytesIn + carried.bytesIn).toBe(BigInt(payload.length));
    expect(totals.bytesOut + carried.bytesOut).toBe(BigInt(payload.length));
    expect(totals).toMatchObject({ accepted: 0, active: 0 });
    // Only the pipes the engine's pool keeps for its next busy flows (at most a few) stay open.
    const kept = (): number => second.stats().pipes!.pooled;
    expect(second.stats().pipes!.inUse).toBe(0);
    await expect
      .poll(
        () => openFds().all <= baseline.all + 2 * kept() && openFds().pipes <= baseline.pipes + 2 * kept(),
        {
          timeout: 5000,
          message: 'fds back to baseline',
        },
      )
      .toBe(true);
  }, 30_000);

  it('carries a half-closed connection: the client already finished, the reply comes between engines', async () => {
    let backendSide: Socket | undefined;
    const { port: backendPort } = await startServer((socket) => void (backendSide = socket));
    const { engine: first, fd, port } = startEngine([inet(backendPort)]);
    const client = dial(port);
    const got = collect(client);
    client.end('question');
    const backend = await backendConnection(() => backendSide);
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
    expect((await closed)[0]).toMatchObject({ bytesIn: 8, bytesOut: 6, reason: 'eof' });
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
    await expect
      .poll(() => Buffer.concat(chunks).toString().endsWith('a'), { timeout: 5000, message: 'first echo' })
      .toBe(true);
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

  it.skipIf(!hasSs)('keeps a connection whose peer does not read, and drains it as before', async () => {
    let backendSide: Socket | undefined;
    const { port: backendPort } = await startServer((socket) => {
      socket.pause();
      backendSide = socket;
    });
    const { engine, port } = startEngine([inet(backendPort)]);
    const client = dial(port);
    const got = collect(client);
    const payload = randomBytes(16 * 1024 * 1024);
    client.end(payload);
    const backend = await backendConnection(() => backendSide);
    // Stuck: bytes wait in the proxy's client-side socket, which it would read if its pipe had
    // room, and nothing more reaches the backend.
    const clientPort = client.localPort!;
    let last = -1n;
    await expect
      .poll(
        () => {
          const now = engine.stats().listeners[0]!.bytesIn;
          const stalled = now === last && now > 0n;
          last = now;
          return stalled && receiveQueue(port, clientPort) > 0;
        },
        { timeout: 10_000, message: 'the backend to stop reading' },
      )
      .toBe(true);
    const started = Date.now();
    expect(await engine.exportConnections(300)).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(engine.active()).toBe(1);
    const received = drain(backend);
    expect((await got).error).toBeNull();
    expect(sha256(await received)).toBe(sha256(payload));
  });

  it('exports a connection still connecting as its client socket with its deadline, for the successor to connect', async () => {
    const backendPort = await freePort();
    const { engine, fd, port } = startEngine([inet(backendPort)], { connectTimeoutMs: 10_000 });
    const client = dial(port);
    // Sent and half-closed before the export: both wait, unread, in the client socket.
    const got = exchange(client, 'patience');
    await expect.poll(() => engine.active() === 1, { timeout: 5000, message: 'accepted' }).toBe(true);
    const exportedAt = Number(process.hrtime.bigint() / 1_000_000n);
    const handed = await engine.exportConnections(100);
    expect(handed).toEqual([
      {
        listener: 0,
        clientFd: expect.any(Number),
        backendFd: null,
        bytesIn: 0n,
        bytesOut: 0n,
        connectDeadlineMs: expect.any(Number),
      },
    ]);
    // The deadline the accepting engine gave it (process.hrtime is the addon's clock): 10 s from the
    // accept, which came before the export.
    expect(handed[0]!.connectDeadlineMs).toBeGreaterThan(exportedAt);
    expect(handed[0]!.connectDeadlineMs).toBeLessThanOrEqual(exportedAt + 10_000);
    expect(engine.active()).toBe(0);
    const next = successor(fd, backendPort);
    next.adoptConnections(handed);
    next.start();
    expect(next.tryStop()).toBe(false);
    await startServer(echo, { host: '127.0.0.1', port: backendPort });
    expect((await got).received.toString()).toBe('patience');
  });

  it("gives a connection moved while connecting the deadline it had, not the successor's timeout", async () => {
    const backendPort = await freePort();
    const { engine, fd, port } = startEngine([inet(backendPort)], { connectTimeoutMs: 300 });
    const client = dial(port);
    const got = collect(client);
    await expect.poll(() => engine.active() === 1, { timeout: 5000, message: 'accepted' }).toBe(true);
    const handed = await engine.exportConnections(100);
    expect(handed).toHaveLength(1);
    const next = successor(fd, backendPort, { connectTimeoutMs: 0 });
    next.adoptConnections(handed);
    next.start();
    // With no timeout of its own the successor would wait for ever; the carried deadline resets it.
    expect((await got).error).toBe('ECONNRESET');
    await expect.poll(() => next.active(), { timeout: 5000 }).toBe(0);
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
    // A refused adoption closes the fds it was given (the ownership rule): the refused calls get dups.
    const dups = (): typeof handed =>
      handed.map((h) => ({ ...h, clientFd: native!.dup(h.clientFd), backendFd: native!.dup(h.backendFd!) }));
    expect(() => started.adoptConnections(dups())).toThrow(expect.objectContaining({ code: 'EALREADY' }));
    const unstarted = successor(fd, backendPort);
    expect(() => unstarted.adoptConnections([{ ...dups()[0]!, listener: 1 }])).toThrow(TypeError);
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

/** `source` as a script file in a temp dir of its own, removed after the test. */
function childScript(source: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'sockrelay-child-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const script = join(dir, 'child.mjs');
  writeFileSync(script, source);
  return script;
}

interface ChildOptions {
  /** Further arguments after the addon's path. */
  args?: string[];
  /** RLIMIT_NOFILE for the child (set by `sh -c ulimit -n` before it starts). */
  ulimitFiles?: number;
}

/**
 * Starts a child script given the addon's path; it talks in JSON lines on stdout, and waitFor finds
 * the first line that matches (bounded in time).
 */
function startChild(source: string, { args = [], ulimitFiles }: ChildOptions = {}) {
  const script = childScript(source);
  const argv = [process.execPath, script, nativeAddonPath(), ...args].map((a) => `"${a}"`).join(' ');
  const limit = ulimitFiles ? `ulimit -n ${ulimitFiles} && ` : '';
  const child = spawn('sh', ['-c', `${limit}exec ${argv}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  // SIGKILL ends a stopped child too.
  cleanups.push(() => child.kill('SIGKILL'));
  const seen: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout! }).on('line', (line) =>
    seen.push(JSON.parse(line) as Record<string, unknown>),
  );
  const waitFor = (match: (m: Record<string, unknown>) => boolean, what: string) =>
    vi.waitFor(
      () => {
        const message = seen.find(match);
        if (!message) throw new Error(`no ${what} from the child yet`);
        return message;
      },
      { timeout: 10_000 },
    );
  return { child, waitFor };
}

/** Runs a child script given the addon's path; its exit code and output, bounded in time. */
async function runChild(source: string): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [childScript(source), nativeAddonPath()], {
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
    connectionsMax: 10, pipeSize: 65536, connectTimeoutMs: 0, connectionEvents: true,
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
  connectionsMax: 10, pipeSize: 65536, connectTimeoutMs: 0, connectionEvents: false,
}, () => { throw new Error('listener threw'); });
engine.start();
net.connect(b.fdinfo(fd).localPort, '127.0.0.1').on('error', () => {});
setTimeout(() => process.exit(1), 5000);
`;

/** An engine in front of a refusing backend (port argv[3]), with a 300 ms connect timeout. */
const LATE_CHILD = `
import { createRequire } from 'node:module';
const b = createRequire(import.meta.url)(process.argv[2]);
const send = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const fd = b.listenSocket({ family: 'inet', address: '127.0.0.1', port: 0 }, { type: 'stream' });
const engine = new b.RelayEngine({
  listeners: [{ fd, backend: 0 }],
  backends: [[{ family: 'inet', address: '127.0.0.1', port: Number(process.argv[3]) }]],
  connectionsMax: 10, pipeSize: 65536, connectTimeoutMs: 300, connectionEvents: true,
}, (events) => { for (const event of events) send({ event }); });
engine.start();
send({ port: b.fdinfo(fd).localPort });
// The engine holds Node open for no one: the test ends this process.
setTimeout(() => process.exit(0), 20_000);
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
    connectionsMax: 100, pipeSize: 65536, connectTimeoutMs: 0, connectionEvents: false,
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
