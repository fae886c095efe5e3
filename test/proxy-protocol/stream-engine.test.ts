/**
 * The PROXY header through the stream engine in-process, on real loopback
 * sockets: first and exactly once on every backend connection, after a backend
 * that came up late too, and never counted as client bytes. Backends echo, so
 * what the client gets back is exactly what the backend read. The engine
 * builds its header in C++ (native/src/core/proxy-header.cc, the one encoder),
 * so these byte-exact checks are the encoder's tests. An Accept=yes connection
 * takes the same path: test/integration/proxy-protocol.test.ts.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SpliceEngine } from '../../src/engine/splice-engine.js';
import type { Engine, EngineListener } from '../../src/engine/types.js';
import type { SocketAddress } from '../../src/native/binding.js';
import type { ProxyProtocolVersion } from '../../src/proxy-protocol/version.js';
import { native } from '../helpers/engines.js';
import { dial, echo, freePort, sendAndCollect, startServer, tempDir } from '../helpers/net.js';

const SIG = '0d0a0d0a000d0a515549540a';
const sun = (text: string): string => Buffer.from(text).toString('hex').padEnd(216, '0');

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function relay(
  listen: SocketAddress,
  backend: SocketAddress,
  proxyProtocol: ProxyProtocolVersion | undefined,
  connectTimeoutMs = 0,
): Promise<{ engine: Engine; port: number }> {
  const fd = native.listenSocket(listen, { type: 'stream' });
  const listener: EngineListener = {
    fd,
    label: 'pp',
    backend: { spec: 'backend', addresses: [backend] },
    ...(proxyProtocol ? { proxyProtocol } : {}),
  };
  const engine = new SpliceEngine(native, {
    listeners: [listener],
    connectionsMax: 16,
    pipeSize: 65536,
    connectTimeoutMs,
    connectionEvents: false,
  });
  engine.start();
  cleanups.push(() => {
    engine.destroy();
    native.close(fd);
  });
  return { engine, port: native.fdinfo(fd).localPort };
}

/** The client's own port, read while connected (Node forgets it after close). */
async function localPort(socket: Socket): Promise<number> {
  if (socket.localPort === undefined) await once(socket, 'connect');
  return socket.localPort!;
}

async function echoBackend(host = '127.0.0.1'): Promise<SocketAddress> {
  const server = await startServer(echo, { host });
  cleanups.push(() => server.close());
  return { family: host.includes(':') ? 'inet6' : 'inet', address: host, port: server.port };
}

describe('PROXY header through the stream engine', () => {
  it('v1 over IPv4: the line, then the client bytes; bytesIn counts only the client', async () => {
    const backend = await echoBackend();
    const { engine, port } = await relay({ family: 'inet', address: '127.0.0.1', port: 0 }, backend, 'v1');
    const client = dial(port);
    const clientPort = await localPort(client);
    const { received } = await sendAndCollect(client, Buffer.from('hello'));
    expect(received.toString('latin1')).toBe(`PROXY TCP4 127.0.0.1 127.0.0.1 ${clientPort} ${port}\r\nhello`);
    await expect.poll(() => engine.active() === 0, { timeout: 5000 }).toBe(true);
    const stats = engine.stats().listeners[0]!;
    expect(stats.bytesIn).toBe(5n);
    expect(stats.bytesOut).toBe(BigInt(received.length));
  });

  it('v2 over IPv4', async () => {
    const backend = await echoBackend();
    const { port } = await relay({ family: 'inet', address: '127.0.0.1', port: 0 }, backend, 'v2');
    const client = dial(port);
    const clientPort = await localPort(client);
    const { received } = await sendAndCollect(client, Buffer.from('four'));
    const ports = clientPort.toString(16).padStart(4, '0') + port.toString(16).padStart(4, '0');
    expect(received.toString('hex')).toBe(
      `${SIG}2111000c7f0000017f000001${ports}${Buffer.from('four').toString('hex')}`,
    );
  });

  it('v2 over IPv6', async () => {
    const backend = await echoBackend('::1');
    const { port } = await relay({ family: 'inet6', address: '::1', port: 0 }, backend, 'v2');
    const client = dial(`[::1]:${port}`);
    const clientPort = await localPort(client);
    const { received } = await sendAndCollect(client, Buffer.from('six'));
    const loopback = '00000000000000000000000000000001';
    const ports = clientPort.toString(16).padStart(4, '0') + port.toString(16).padStart(4, '0');
    expect(received.toString('hex')).toBe(
      `${SIG}21210024${loopback}${loopback}${ports}${Buffer.from('six').toString('hex')}`,
    );
  });

  it('v1 over IPv6, in the canonical text form', async () => {
    const backend = await echoBackend('::1');
    const { port } = await relay({ family: 'inet6', address: '::1', port: 0 }, backend, 'v1');
    const client = dial(`[::1]:${port}`);
    const clientPort = await localPort(client);
    const { received } = await sendAndCollect(client, Buffer.from('x'));
    expect(received.toString('latin1')).toBe(`PROXY TCP6 ::1 ::1 ${clientPort} ${port}\r\nx`);
  });

  it('an IPv4 client of a dual-stack listener is TCP4 in both versions', async () => {
    const backend = await echoBackend();
    const dualStack: SocketAddress = { family: 'inet6', address: '::', port: 0 };
    const v1 = await relay(dualStack, backend, 'v1');
    const client1 = dial(v1.port);
    const port1 = await localPort(client1);
    const got1 = await sendAndCollect(client1, Buffer.from('a'));
    expect(got1.received.toString('latin1')).toBe(`PROXY TCP4 127.0.0.1 127.0.0.1 ${port1} ${v1.port}\r\na`);

    const v2 = await relay(dualStack, backend, 'v2');
    const client2 = dial(v2.port);
    const port2 = await localPort(client2);
    const got2 = await sendAndCollect(client2, Buffer.from('b'));
    const ports = port2.toString(16).padStart(4, '0') + v2.port.toString(16).padStart(4, '0');
    expect(got2.received.toString('hex')).toBe(`${SIG}2111000c7f0000017f000001${ports}62`);
  });

  it('a unix listener: v2 AF_UNIX with the listener path and an unnamed client; v1 UNKNOWN', async () => {
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const backend = await echoBackend();
    const path = `${dir.path}/relay.sock`;
    await relay({ family: 'unix', path, abstract: false }, backend, 'v2');
    const v2 = await sendAndCollect(dial(path), Buffer.from('u'));
    expect(v2.received.toString('hex')).toBe(`${SIG}213100d8${sun('')}${sun(path)}75`);

    const path1 = `${dir.path}/relay1.sock`;
    await relay({ family: 'unix', path: path1, abstract: false }, backend, 'v1');
    const v1 = await sendAndCollect(dial(path1), Buffer.from('u'));
    expect(v1.received.toString('latin1')).toBe('PROXY UNKNOWN\r\nu');
  });

  it('every connection gets its own header, once, before its own bytes', async () => {
    const backend = await echoBackend();
    const { port } = await relay({ family: 'inet', address: '127.0.0.1', port: 0 }, backend, 'v1');
    const clients = Array.from({ length: 20 }, () => dial(port));
    const ports = await Promise.all(clients.map(localPort));
    const results = await Promise.all(clients.map((c, i) => sendAndCollect(c, Buffer.from(`client ${i}`))));
    results.forEach(({ received }, i) =>
      expect(received.toString('latin1')).toBe(
        `PROXY TCP4 127.0.0.1 127.0.0.1 ${ports[i]} ${port}\r\nclient ${i}`,
      ),
    );
  });

  it('waits for a late backend and then sends the header once, before the bytes the client sent early', async () => {
    const backendPort = await freePort();
    const { engine, port } = await relay(
      { family: 'inet', address: '127.0.0.1', port: 0 },
      { family: 'inet', address: '127.0.0.1', port: backendPort },
      'v1',
      10_000,
    );
    const client = dial(port);
    const clientPort = await localPort(client);
    const done = sendAndCollect(client, Buffer.from('early'));
    await expect.poll(() => engine.stats().listeners[0]!.accepted === 1, { timeout: 5000 }).toBe(true);
    const server = await startServer(echo, { host: '127.0.0.1', port: backendPort });
    cleanups.push(() => server.close());
    const { received } = await done;
    expect(received.toString('latin1')).toBe(`PROXY TCP4 127.0.0.1 127.0.0.1 ${clientPort} ${port}\r\nearly`);
    expect(server.accepted).toBe(1);
  });
});
