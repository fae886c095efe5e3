/**
 * Sessions handed from one relay to the next, the way the daemon does it on a
 * restart through systemd's fd store: systemd keeps the UDP socket and passes a
 * copy to each process; relay A stops accepting, exports its sessions' upstream
 * sockets (into the fd store) and its process exits; relay B gets the socket again
 * with those fds, adopts them and starts. The backend must not notice: the same
 * upstream source port before and after, replies it held back reaching the client.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';

import type { SocketAddress } from '../../src/native/binding.js';
import type { HandoverSession, UdpRelay } from '../../src/udp/index.js';
import {
  Client,
  echoBackend,
  inheritedSocket,
  makeRelay,
  native,
  nextEvent,
  relayOptions,
} from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A backend that answers only when told, so a reply can be held across the handover. */
async function heldBackend() {
  const socket = dgram.createSocket('udp4');
  const received: Array<{ data: string; port: number }> = [];
  socket.on('message', (data, from) => {
    received.push({ data: data.toString(), port: from.port });
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening', { signal: AbortSignal.timeout(2000) });
  cleanups.push(() => socket.close());
  return {
    port: socket.address().port,
    received,
    async waitFor(count: number): Promise<void> {
      await expect
        .poll(() => received.length, { timeout: 3000, message: `${count} datagrams at the backend` })
        .toBeGreaterThanOrEqual(count);
    },
    reply(port: number, data: string): void {
      socket.send(data, port, '127.0.0.1');
    },
  };
}

/** systemd's socket: the test keeps it, each "process" gets its own copy. */
function systemdSocket(address: SocketAddress) {
  const { fd, port } = inheritedSocket(address);
  cleanups.push(() => native!.close(fd));
  return { port, pass: () => native!.dup(fd) };
}

function relay(fd: number, backendPort: number, overrides = {}): UdpRelay {
  const backend: SocketAddress[] = [{ family: 'inet', address: '127.0.0.1', port: backendPort }];
  const r = makeRelay(relayOptions(fd, backend, overrides));
  cleanups.push(() => r.destroy());
  return r;
}

async function client(): Promise<Client> {
  const c = await Client.open('udp4', '127.0.0.1');
  cleanups.push(() => c.close());
  return c;
}

/**
 * Relay A's process ends: it stops accepting, exports, and is gone. The fds go to relay B, which
 * owns them from then on; a failing test leaks them rather than close numbers someone reused.
 */
async function restart(a: UdpRelay): Promise<HandoverSession[]> {
  a.stopAccepting();
  const sessions = await a.exportSessions();
  a.destroy();
  return sessions;
}

describe.skipIf(!native)('UDP session handover', () => {
  it('delivers a reply held across the handover, and the backend sees one peer', async () => {
    const backend = await heldBackend();
    const systemd = systemdSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const a = relay(systemd.pass(), backend.port);
    const errors: unknown[] = [];
    a.on('sessionError', (info) => errors.push(info));
    a.start();
    const c = await client();

    await c.send('hello', systemd.port, '127.0.0.1');
    await backend.waitFor(1);
    const upstreamPort = backend.received[0]!.port;
    backend.reply(upstreamPort, 'r1');
    await c.waitReplies(1);
    await c.send('pending', systemd.port, '127.0.0.1');
    await backend.waitFor(2);

    const idle = nextEvent(a, 'idle', 2000);
    a.stopAccepting();
    const sessions = await a.exportSessions();
    expect(a.activeSessions()).toBe(0);
    await idle;
    a.destroy();
    expect(sessions).toEqual([
      {
        upstreamFd: expect.any(Number) as number,
        client: `127.0.0.1:${c.port}`,
        local: `127.0.0.1:${systemd.port}`,
      },
    ]);
    expect(errors).toEqual([]);

    const b = relay(systemd.pass(), backend.port);
    const busy = nextEvent(b, 'busy', 2000);
    expect(b.adoptSessions(sessions)).toEqual([]);
    await busy;
    b.start();
    expect(b.activeSessions()).toBe(1);

    backend.reply(upstreamPort, 'r-pending');
    const replies = await c.waitReplies(2);
    expect(replies.map((r) => r.data.toString())).toEqual(['r1', 'r-pending']);
    expect(replies[1]!.from).toMatchObject({ address: '127.0.0.1', port: systemd.port });

    await c.send('after', systemd.port, '127.0.0.1');
    await backend.waitFor(3);
    expect(backend.received.map((d) => d.data)).toEqual(['hello', 'pending', 'after']);
    expect(new Set(backend.received.map((d) => d.port))).toEqual(new Set([upstreamPort]));

    // B counts only what it carried: one datagram each way, and no session it opened.
    await expect.poll(() => b.stats().datagramsIn === 1, { timeout: 2000, message: 'counters' }).toBe(true);
    expect(b.stats()).toMatchObject({
      datagramsIn: 1,
      bytesIn: 5n,
      datagramsOut: 1,
      bytesOut: 9n,
      sessionsActive: 1,
      sessionsTotal: 0,
    });
  });
});

describe.skipIf(!native)('UDP session handover, many and refused', () => {
  it('keeps 50 sessions on their upstream sockets', async () => {
    const backend = await echoBackend('udp4', '127.0.0.1', 'tag');
    cleanups.push(backend.close);
    const systemd = systemdSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const a = relay(systemd.pass(), backend.port);
    a.start();
    const clients = await Promise.all(Array.from({ length: 50 }, () => client()));
    const tag = (data: Buffer): string => data.toString().split('|')[0]!;
    const before = await Promise.all(clients.map((c) => c.request('one', systemd.port, '127.0.0.1')));

    const sessions = await restart(a);
    expect(sessions).toHaveLength(50);
    const b = relay(systemd.pass(), backend.port);
    expect(b.adoptSessions(sessions)).toEqual([]);
    b.start();

    const after = await Promise.all(clients.map((c) => c.request('two', systemd.port, '127.0.0.1')));
    after.forEach((reply, i) => expect(tag(reply.data)).toBe(tag(before[i]!.data)));
    expect(backend.sources.size).toBe(50);
    expect(b.stats()).toMatchObject({ sessionsActive: 50, sessionsTotal: 0 });
  });

  it('refuses bad entries one by one, closing the fds it was given', async () => {
    const backend = await echoBackend('udp4', '127.0.0.1', 'tag');
    cleanups.push(backend.close);
    const systemd = systemdSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const a = relay(systemd.pass(), backend.port);
    a.start();
    const c = await client();
    const first = await c.request('one', systemd.port, '127.0.0.1');
    const [good] = await restart(a);

    // Connected UDP sockets, fine but for what each entry says about them.
    const [badClient, wrongFamily, noPort, twice] = await Promise.all(
      [1, 2, 3, 4].map(() => connectedUdp(backend.port)),
    );
    const unconnected = native!.listenSocket(
      { family: 'inet', address: '127.0.0.1', port: 0 },
      { type: 'dgram' },
    );
    const stream = native!.listenSocket(
      { family: 'inet', address: '127.0.0.1', port: 0 },
      { type: 'stream' },
    );
    const own = systemd.pass();
    const given = [badClient!, wrongFamily!, noPort!, twice!, unconnected, stream, own, good!.upstreamFd];
    const identity = new Map(given.map((fd) => [fd, native!.fdinfo(fd).localAddress]));
    const stillOpen = (fd: number): boolean => {
      try {
        return native!.fdinfo(fd).localAddress === identity.get(fd);
      } catch {
        return false;
      }
    };

    const b = relay(own, backend.port);
    // Closed last, so that nothing opened since took its number.
    const closed = native!.dup(stream);
    native!.close(closed);
    const entries: HandoverSession[] = [
      { upstreamFd: badClient!, client: 'not an address', local: '' },
      { upstreamFd: wrongFamily!, client: `[::1]:${c.port}`, local: '' },
      { upstreamFd: noPort!, client: '127.0.0.1:0', local: '' },
      good!,
      { upstreamFd: good!.upstreamFd, client: '127.0.0.1:9', local: '' },
      { upstreamFd: twice!, client: good!.client, local: '' },
      { upstreamFd: unconnected, client: '127.0.0.1:7', local: '' },
      { upstreamFd: stream, client: '127.0.0.1:8', local: '' },
      { upstreamFd: closed, client: '127.0.0.1:10', local: '' },
      { upstreamFd: own, client: '127.0.0.1:11', local: '' },
      { upstreamFd: -1, client: '127.0.0.1:12', local: '' },
    ];
    const refused = b.adoptSessions(entries);
    const why = new Map(refused.map((r) => [entries.indexOf(r.session), r.error]));
    expect([...why.keys()].sort((x, y) => x - y)).toEqual([0, 1, 2, 4, 5, 6, 7, 8, 9, 10]);
    for (const i of [0, 1, 2, 4, 5, 7, 9, 10]) {
      expect(why.get(i)).toBeInstanceOf(TypeError);
      expect(why.get(i)).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    }
    expect(why.get(6)).toMatchObject({ code: 'ENOTCONN', syscall: 'getpeername' });
    expect(why.get(8)).toMatchObject({ code: 'EBADF' });
    // Refused fds are closed; the relay's own socket and the fd already taken stay open.
    for (const fd of [badClient!, wrongFamily!, noPort!, twice!, unconnected, stream]) {
      expect(stillOpen(fd)).toBe(false);
    }
    expect(stillOpen(own)).toBe(true);
    expect(stillOpen(good!.upstreamFd)).toBe(true);

    b.start();
    expect(b.activeSessions()).toBe(1);
    const again = await c.request('two', systemd.port, '127.0.0.1');
    expect(again.data.toString().split('|')[0]).toBe(first.data.toString().split('|')[0]);
    expect(() => b.adoptSessions([])).toThrow(/before start/);
  });

  it('keeps the most recently active sessions when sessionsMax is lower', async () => {
    const backend = await echoBackend('udp4', '127.0.0.1', 'tag');
    cleanups.push(backend.close);
    const systemd = systemdSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const a = relay(systemd.pass(), backend.port);
    a.start();
    const [x, y, z] = await Promise.all([client(), client(), client()]);
    for (const c of [x, y, z]) await c.request('one', systemd.port, '127.0.0.1');
    const sessions = await restart(a);
    expect(sessions.map((s) => s.client)).toEqual([z, y, x].map((c) => `127.0.0.1:${c.port}`));

    const b = relay(systemd.pass(), backend.port, { sessionsMax: 2 });
    const refused = b.adoptSessions(sessions);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ session: sessions[2], error: { code: 'ERR_UDP_SESSIONS_MAX' } });
    expect(() => native!.fdinfo(sessions[2]!.upstreamFd)).toThrow(/EBADF/);
    b.start();
    expect(b.activeSessions()).toBe(2);
    for (const c of [y, z]) await c.request('two', systemd.port, '127.0.0.1');
    const dropped = nextEvent(b, 'dropped', 3000);
    await x.send('two', systemd.port, '127.0.0.1');
    expect((await dropped)[0]).toMatchObject({ reason: 'sessions-max' });
    expect(b.stats().dropped['sessions-max']).toBe(1);
  });
});

/** A UDP socket connected to `port`, as a bare fd. */
async function connectedUdp(port: number): Promise<number> {
  const socket = dgram.createSocket('udp4');
  socket.connect(port, '127.0.0.1');
  await once(socket, 'connect', { signal: AbortSignal.timeout(2000) });
  const fd = native!.dup((socket as unknown as { _handle: { fd: number } })._handle.fd);
  socket.close();
  return fd;
}
