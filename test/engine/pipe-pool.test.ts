/**
 * Splice pipes belong to bytes in flight (native/src/stream/pipe-pool.h): an idle connection holds
 * its two sockets and nothing else, a flow takes a pipe when it reads and gives it back once the
 * destination took every byte, and a flow that gets none (the budget spent, or EMFILE) copies
 * through user space. Whichever way a chunk goes, and whenever a pipe is taken or given back
 * mid-stream, every byte arrives once and in order: sha256 both ways.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Socket } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { inet, runEngine, type RunningEngine, type RelayOptions } from '../helpers/engines.js';
import { nativeAddonPath } from '../../src/native/binding.js';
import {
  collect,
  dial,
  echo,
  hashReply,
  randomBytes,
  sendAndCollect,
  sha256,
  startServer,
  type TestServer,
} from '../helpers/net.js';

const MiB = 1024 * 1024;

const cleanups = useCleanups();

async function server(handler: (s: Socket) => void): Promise<TestServer> {
  const s = await startServer(handler);
  cleanups.push(() => s.close());
  return s;
}

function engine(backendPort: number, options: RelayOptions = {}): RunningEngine {
  const running = runEngine([inet(backendPort)], options);
  cleanups.push(() => running.close());
  return running;
}

function client(port: number): Socket {
  const socket = dial(port);
  // Half-open allowed: the proxy's FIN is answered, so a closed connection closes here too.
  socket.on('end', () => socket.end());
  cleanups.push(() => socket.destroy());
  return socket;
}

function pipesOpen(): number {
  let pipes = 0;
  for (const entry of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${entry}`).startsWith('pipe:')) pipes++;
    } catch {
      // The fd readdir itself used, gone already.
    }
  }
  return pipes;
}

/** Streams `payload` to an echo backend while reading the echo back in bursts with pauses. */
async function slowEcho(port: number, payload: Buffer): Promise<Buffer> {
  const socket = client(port);
  const chunks: Buffer[] = [];
  let length = 0;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    length += chunk.length;
    // A slow reader: after each ~256 KiB, nothing is read for 20 ms, so pipes fill and wait.
    if (length % (256 * 1024) < chunk.length) {
      socket.pause();
      setTimeout(() => socket.resume(), 20);
    }
  });
  const ended = once(socket, 'end', { signal: AbortSignal.timeout(30_000) });
  // Written in uneven pieces: partial writes on both sides of the proxy.
  for (let at = 0, i = 0; at < payload.length; i++) {
    const size = 1 + ((i * 7919) % (96 * 1024));
    if (!socket.write(payload.subarray(at, at + size))) await once(socket, 'drain');
    at += size;
  }
  socket.end();
  await ended;
  return Buffer.concat(chunks);
}

// undefined: the fd budget's pipes; 1: one flow splices while the other copies; 0: all copy.
for (const pipesMax of [undefined, 1, 0]) {
  describe(`splice pipes taken and given back mid-stream (pipesMax ${pipesMax ?? 'default'})`, () => {
    const options = pipesMax === undefined ? {} : { pipesMax };

    it('relays 8 MiB through an echo to a slow reader with partial writes: every byte once, in order', async () => {
      const backend = await server(echo);
      const { engine: e, port } = engine(backend.port, options);
      const payload = randomBytes(8 * MiB);
      const received = await slowEcho(port, payload);
      expect(received.length).toBe(payload.length);
      expect(sha256(received)).toBe(sha256(payload));
      await vi.waitFor(() => expect(e.stats().pipes).toMatchObject({ inUse: 0 }), { timeout: 5000 });
      if (pipesMax !== undefined) expect(e.stats().pipes!.pooled).toBeLessThanOrEqual(pipesMax);
    });

    it('keeps the half-close: the reply after the client finished arrives whole', async () => {
      const backend = await server(hashReply);
      const { port } = engine(backend.port, options);
      const payload = randomBytes(4 * MiB);
      const { received, error } = await sendAndCollect(client(port), payload);
      expect(error).toBeNull();
      expect(received.toString()).toBe(`${sha256(payload)} ${payload.length}`);
    });

    it('passes a backend reset on while bytes wait for a client that does not read, and frees the pipe', async () => {
      let backendSide: Socket | undefined;
      const sent = randomBytes(4 * MiB);
      const backend = await server((s) => {
        backendSide = s;
        s.write(sent);
      });
      const { engine: e, port } = engine(backend.port, options);
      const socket = client(port);
      socket.pause();
      const done = collect(socket);
      await vi.waitFor(() => expect(e.stats().listeners[0]!.bytesOut).toBeGreaterThan(0n), { timeout: 5000 });
      backendSide!.resetAndDestroy();
      socket.resume();
      // The connection ends (not hangs), with a prefix of what the backend sent: nothing reordered.
      const { received } = await done;
      expect(received.length).toBeLessThanOrEqual(sent.length);
      expect(sha256(received)).toBe(sha256(sent.subarray(0, received.length)));
      await vi.waitFor(() => expect(e.stats().pipes).toMatchObject({ inUse: 0 }), { timeout: 5000 });
      expect(e.active()).toBe(0);
    });
  });
}

describe('splice pipes belong to bytes in flight', () => {
  it('an idle connection holds no pipe, and the pool keeps only a few', async () => {
    const backend = await server(echo);
    const { engine: e, port } = engine(backend.port);
    const before = pipesOpen();
    const sockets = Array.from({ length: 40 }, () => client(port));
    for (const [i, socket] of sockets.entries()) {
      socket.write(`hello ${i};`);
      const [data] = (await once(socket, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
      expect(data.toString()).toBe(`hello ${i};`);
    }
    expect(e.active()).toBe(40);
    // Forty connections, every one idle: no pipe held, and only the pool's few (two fds each) open.
    expect(e.stats().pipes!.inUse).toBe(0);
    expect(e.stats().pipes!.pooled).toBeLessThanOrEqual(8);
    expect(pipesOpen() - before).toBeLessThanOrEqual(2 * e.stats().pipes!.pooled);
    // Taken again when bytes come, and still in order.
    const again = await sendAndCollect(sockets[7]!, Buffer.from('again'));
    expect(again.received.toString()).toBe('again');
  });

  it('an idle connection closed by the idle timeout ends with FIN both ways, having held no pipe', async () => {
    let backendEnded = false;
    const backend = await server((s) => {
      s.on('end', () => (backendEnded = true));
      s.pipe(s);
    });
    const { engine: e, port } = engine(backend.port, { connectionIdleTimeoutMs: 300 });
    const socket = client(port);
    const done = collect(socket);
    const payload = randomBytes(MiB);
    socket.write(payload);
    const { received, error } = await done;
    expect(error).toBeNull();
    expect(sha256(received)).toBe(sha256(payload));
    await vi.waitFor(() => expect(backendEnded).toBe(true), { timeout: 5000 });
    expect(e.stats().pipes!.inUse).toBe(0);
  });
});

/** An engine (argv: addon, backend port) in a process whose fds run out while its flows need a second pipe; obeys stdin. */
const EMFILE_CHILD = `
import { createRequire } from 'node:module';
import { openSync, closeSync } from 'node:fs';
import net from 'node:net';
const b = createRequire(import.meta.url)(process.argv[1]);
const send = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const fd = b.listenSocket({ family: 'inet', address: '127.0.0.1', port: 0 }, { type: 'stream' });
const engine = new b.RelayEngine({
  listeners: [{ fd, backend: 0 }],
  backends: [[{ family: 'inet', address: '127.0.0.1', port: Number(process.argv[2]) }]],
  connectionsMax: 10, pipeSize: 65536, connectTimeoutMs: 0, connectionEvents: false,
}, () => {});
engine.start();
send({ port: b.fdinfo(fd).localPort });
const fillers = [];
process.stdin.on('data', (data) => {
  for (const command of data.toString().split('\\n')) {
    if (command === 'fill') {
      try { for (let i = 0; i < 100000; i++) fillers.push(openSync('/dev/null', 'r')); } catch {}
      send({ filled: fillers.length });
    } else if (command === 'cpu') {
      const start = process.cpuUsage();
      setTimeout(() => send({ cpu: process.cpuUsage(start), pipesInUse: engine.stats().pipesInUse }), 1000);
    } else if (command === 'release') {
      for (const f of fillers.splice(0)) closeSync(f);
      send({ released: true });
    } else if (command === 'exit') {
      engine.destroy();
      process.exit(0);
    }
  }
});
`;

describe('a pipe the process has no fd for', () => {
  it('copies instead: no byte lost, no spin, and pipes again once fds free up', async () => {
    // The backend answers whatever it reads with the same bytes, in another process than the engine.
    const backend = await server(echo);
    const child = spawn(
      'sh',
      [
        '-c',
        `ulimit -n 128 && exec "$0" "$@"`,
        process.execPath,
        '--input-type=module',
        '-e',
        EMFILE_CHILD,
        nativeAddonPath(),
        String(backend.port),
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    cleanups.push(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const message = async (): Promise<Record<string, unknown>> =>
      JSON.parse(String((await lines.next()).value)) as Record<string, unknown>;
    const { port } = (await message()) as { port: number };
    const socket = client(port);
    socket.write('x');
    await once(socket, 'data', { signal: AbortSignal.timeout(5000) });
    child.stdin!.write('fill\n');
    const filled = (await message()) as { filled: number };
    expect(filled.filled).toBeGreaterThan(0);
    // The client does not read: the echo backs up into the proxy both ways, so both flows need a
    // pipe at once, and the pool holds one at most; the second cannot be made (EMFILE).
    socket.pause();
    const payload = randomBytes(8 * MiB);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = once(socket, 'end', { signal: AbortSignal.timeout(30_000) });
    socket.end(payload);
    child.stdin!.write('cpu\n');
    const { cpu, pipesInUse } = (await message()) as {
      cpu: { user: number; system: number };
      pipesInUse: number;
    };
    // One flow has the pooled pipe, the other none: it copies what the reader takes.
    expect(pipesInUse).toBeLessThanOrEqual(1);
    // Waiting on the reader, the engine sleeps: a loop retrying the pipe would burn the core.
    expect(cpu.user + cpu.system).toBeLessThan(250_000);
    socket.resume();
    await ended;
    const received = Buffer.concat(chunks);
    expect(received.length).toBe(payload.length);
    expect(sha256(received)).toBe(sha256(payload));
    child.stdin!.write('release\n');
    await message();
    child.stdin!.write('exit\n');
    await once(child, 'exit', { signal: AbortSignal.timeout(5000) });
  }, 60_000);
});
