/**
 * Handover cases only the native relay can pass: replies from the local address
 * the client sent to (IP_PKTINFO kept across the handover), timeouts restarting
 * on the relay thread that adopted the session, and an export taken while the
 * relay thread is busy forwarding.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';

import type { SocketAddress } from '../../src/native/binding.js';
import { NativeUdpRelay, type HandoverSession, type UdpRelay } from '../../src/udp/index.js';
import { Client, echoBackend, inheritedSocket, native, nextEvent, relayOptions } from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** systemd's socket: the test keeps it, each "process" gets its own copy. */
function systemdSocket(address: SocketAddress) {
  const { fd, port } = inheritedSocket(address);
  cleanups.push(() => native!.close(fd));
  return { port, pass: () => native!.dup(fd) };
}

function relay(
  fd: number,
  backend: SocketAddress,
  overrides: Parameters<typeof relayOptions>[2] = {},
): UdpRelay {
  const r = new NativeUdpRelay(native!, relayOptions(fd, [backend], overrides));
  cleanups.push(() => r.destroy());
  return r;
}

async function client(type: 'udp4' | 'udp6' = 'udp4', address = '127.0.0.1'): Promise<Client> {
  const c = await Client.open(type, address);
  cleanups.push(() => c.close());
  return c;
}

/** Relay A's process ends; relay B's fds are its own from adoption on. */
async function restart(a: UdpRelay): Promise<HandoverSession[]> {
  a.stopAccepting();
  const sessions = await a.exportSessions();
  a.destroy();
  return sessions;
}

/** A backend that answers only when told, so a reply can be held across the handover. */
async function heldBackend() {
  const socket = dgram.createSocket('udp4');
  const ports: number[] = [];
  socket.on('message', (_data, from) => {
    ports.push(from.port);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening', { signal: AbortSignal.timeout(2000) });
  cleanups.push(() => socket.close());
  return {
    address: { family: 'inet', address: '127.0.0.1', port: socket.address().port } as SocketAddress,
    ports,
    waitFor: (count: number) =>
      expect
        .poll(() => ports.length, { timeout: 3000, message: `${count} datagrams at the backend` })
        .toBeGreaterThanOrEqual(count),
    reply: (port: number, data: string) => socket.send(data, port, '127.0.0.1'),
  };
}

describe.skipIf(!native)('native UDP session handover', () => {
  const cases = [
    { family: 'inet', bind: '0.0.0.0', to: '127.0.0.2', local: '127.0.0.2', client: '127.0.0.1' },
    {
      family: 'inet6',
      bind: '::',
      to: '127.0.0.3',
      local: '[::ffff:127.0.0.3]',
      client: '[::ffff:127.0.0.1]',
    },
  ] as const;
  it.each(cases)('answers from the address the client sent to, $local on $bind', async (t) => {
    const backend = await heldBackend();
    const systemd = systemdSocket({ family: t.family, address: t.bind, port: 0 });
    const a = relay(systemd.pass(), backend.address);
    a.start();
    const c = await client();
    await c.send('hello', systemd.port, t.to);
    await backend.waitFor(1);

    const sessions = await restart(a);
    expect(sessions).toEqual([
      {
        upstreamFd: expect.any(Number) as number,
        client: `${t.client}:${c.port}`,
        local: `${t.local}:${systemd.port}`,
      },
    ]);
    const b = relay(systemd.pass(), backend.address);
    expect(b.adoptSessions(sessions)).toEqual([]);
    b.start();
    // Without the pinned source the kernel would answer a 127.0.0.1 client from 127.0.0.1.
    backend.reply(backend.ports[0]!, 'held');
    const [reply] = await c.waitReplies(1);
    expect(reply!.from).toMatchObject({ address: t.to, port: systemd.port });
  });

  it('refuses a local address it cannot parse', async () => {
    const backend = await heldBackend();
    const systemd = systemdSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const a = relay(systemd.pass(), backend.address);
    a.start();
    const c = await client();
    await c.send('hello', systemd.port, '127.0.0.1');
    await backend.waitFor(1);
    const [session] = await restart(a);
    const b = relay(systemd.pass(), backend.address);
    const refused = b.adoptSessions([{ ...session!, local: '[::1]:53' }]);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.error).toBeInstanceOf(TypeError);
    expect(refused[0]!.error.message).toMatch(/^local: /);
  });

  it('starts the session timeout afresh at adoption', async () => {
    const backend = await heldBackend();
    const systemd = systemdSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const a = relay(systemd.pass(), backend.address);
    a.start();
    const c = await client();
    await c.send('hello', systemd.port, '127.0.0.1');
    await backend.waitFor(1);
    const sessions = await restart(a);

    const b = relay(systemd.pass(), backend.address, { sessionTimeoutMs: 200 });
    const adopted = performance.now();
    b.adoptSessions(sessions);
    const idle = nextEvent(b, 'idle', 3000);
    b.start();
    await idle;
    expect(performance.now() - adopted).toBeGreaterThanOrEqual(150);
    expect(b.stats()).toMatchObject({ sessionsActive: 0, sessionsTimedOut: 1 });
  });

  it('loses no datagram when exporting while the relay thread is forwarding', async () => {
    const backend = await echoBackend('udp4', '127.0.0.1', 'tag');
    cleanups.push(backend.close);
    const address: SocketAddress = { family: 'inet', address: '127.0.0.1', port: backend.port };
    const systemd = systemdSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const a = relay(systemd.pass(), address);
    a.start();
    const clients = await Promise.all(Array.from({ length: 20 }, () => client()));
    await Promise.all(
      clients.map((c, i) =>
        Promise.all(Array.from({ length: 10 }, (_, j) => c.send(`${i}:${j}`, systemd.port, '127.0.0.1'))),
      ),
    );
    // Some datagrams are in A's sessions, some on their way back, some still queued for B.
    const sessions = await restart(a);
    const b = relay(systemd.pass(), address);
    expect(b.adoptSessions(sessions)).toEqual([]);
    b.start();

    await Promise.all(clients.map((c) => c.waitReplies(10)));
    clients.forEach((c, i) => {
      const payloads = c.replies.map((r) => r.data.toString().split('|')[1]).sort();
      expect(payloads).toEqual(Array.from({ length: 10 }, (_, j) => `${i}:${j}`).sort());
      // Whichever relay opened it, each client had one session: one upstream port.
      expect(new Set(c.replies.map((r) => r.data.toString().split('|')[0])).size).toBe(1);
    });
    expect(backend.sources.size).toBe(20);
  });

  it('exports on the relay thread, one export at a time: a second asked for meanwhile waits and finds nothing left', async () => {
    const backend = await echoBackend('udp4', '127.0.0.1', 'plain');
    cleanups.push(backend.close);
    const address: SocketAddress = { family: 'inet', address: '127.0.0.1', port: backend.port };
    const systemd = systemdSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const a = relay(systemd.pass(), address);
    a.start();
    const clients = await Promise.all(Array.from({ length: 8 }, () => client()));
    await Promise.all(clients.map((c, i) => c.send(`${i}`, systemd.port, '127.0.0.1')));
    await Promise.all(clients.map((c) => c.waitReplies(1)));
    a.stopAccepting();
    const [first, second] = await Promise.all([a.exportSessions(), a.exportSessions()]);
    expect(first.map((s) => s.client).sort()).toEqual(clients.map((c) => `127.0.0.1:${c.port}`).sort());
    expect(new Set(first.map((s) => s.upstreamFd)).size).toBe(8);
    expect(second).toEqual([]);
    expect(a.activeSessions()).toBe(0);
    for (const s of first) native!.close(s.upstreamFd);
  });
});
