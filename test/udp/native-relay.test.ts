/**
 * What only the native UDP relay does: reply from the address the client sent to
 * on a wildcard-bound socket (IP_PKTINFO / IPV6_RECVPKTINFO), and unix datagram
 * sockets on either side. Unix peers are python3 (Node has no unix datagrams).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { NativeUdpRelay } from '../../src/udp/index.js';
import {
  Client,
  echoBackend,
  hasPython,
  inheritedSocket,
  native,
  nextEvent,
  relayOptions,
  unixClient,
  unixEcho,
} from './helpers.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sockrelay-udp-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe.skipIf(!native)('native UDP relay', () => {
  it('replies from the address the client sent to on a 0.0.0.0-bound socket', async () => {
    const backend = await echoBackend('udp4', '127.0.0.1', 'tag');
    cleanups.push(backend.close);
    const { fd, port } = inheritedSocket({ family: 'inet', address: '0.0.0.0', port: 0 });
    const relay = new NativeUdpRelay(
      native!,
      relayOptions(fd, [{ family: 'inet', address: '127.0.0.1', port: backend.port }]),
    );
    cleanups.push(() => relay.destroy());
    relay.start();
    const c = await Client.open('udp4', '127.0.0.1');
    cleanups.push(() => c.close());
    for (const local of ['127.0.0.2', '127.0.0.3', '127.0.0.1']) {
      const reply = await c.request(`to ${local}`, port, local);
      expect(reply.from).toMatchObject({ address: local, port });
      expect(reply.data.toString()).toMatch(new RegExp(`\\|to ${local.replaceAll('.', '\\.')}$`));
    }
    // One client address, one session, whichever local address it spoke to.
    expect(relay.stats().sessionsTotal).toBe(1);
  });

  it('replies from the right IPv4 address on a dual-stack [::]-bound socket', async () => {
    const backend = await echoBackend('udp6', '::1', 'tag');
    cleanups.push(backend.close);
    const { fd, port } = inheritedSocket({ family: 'inet6', address: '::', port: 0 });
    const relay = new NativeUdpRelay(
      native!,
      relayOptions(fd, [{ family: 'inet6', address: '::1', port: backend.port }]),
    );
    cleanups.push(() => relay.destroy());
    relay.start();
    const v4 = await Client.open('udp4', '127.0.0.1');
    cleanups.push(() => v4.close());
    expect((await v4.request('mapped', port, '127.0.0.2')).from).toMatchObject({
      address: '127.0.0.2',
      port,
    });
    const v6 = await Client.open('udp6', '::1');
    cleanups.push(() => v6.close());
    expect((await v6.request('six', port, '::1')).from).toMatchObject({ address: '::1', port });
  });

  it.skipIf(!hasPython)('relays to a unix datagram backend', async () => {
    const dir = tempDir();
    const path = join(dir, 'backend.sock');
    const echo = await unixEcho(path);
    cleanups.push(() => echo.kill());
    const { fd, port } = inheritedSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const relay = new NativeUdpRelay(native!, relayOptions(fd, [{ family: 'unix', path, abstract: false }]));
    cleanups.push(() => relay.destroy());
    relay.start();
    const clients = await Promise.all([0, 1, 2].map(() => Client.open('udp4', '127.0.0.1')));
    cleanups.push(() => clients.forEach((c) => c.close()));
    await Promise.all(
      clients.map(async (c, i) => {
        for (let j = 0; j < 5; j++) {
          expect((await c.request(`c${i}-${j}`, port, '127.0.0.1')).data.toString()).toBe(`unix:c${i}-${j}`);
        }
      }),
    );
    expect(relay.stats()).toMatchObject({ sessionsTotal: 3, datagramsIn: 15 });
  });

  it('reports an absent unix backend as a session error and a backend-error drop', async () => {
    const dir = tempDir();
    const { fd, port } = inheritedSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const relay = new NativeUdpRelay(
      native!,
      relayOptions(fd, [{ family: 'unix', path: join(dir, 'nobody.sock'), abstract: false }]),
    );
    cleanups.push(() => relay.destroy());
    relay.start();
    const c = await Client.open('udp4', '127.0.0.1');
    cleanups.push(() => c.close());
    const failed = nextEvent<[{ code: string }]>(relay, 'sessionError', 3000);
    const dropped = nextEvent<[{ reason: string }]>(relay, 'dropped', 3000);
    await c.send('x', port, '127.0.0.1');
    expect((await failed)[0].code).toBe('ENOENT');
    expect((await dropped)[0].reason).toBe('backend-error');
    expect(relay.stats()).toMatchObject({ sessionsTotal: 0, sessionsActive: 0 });
  });

  it.skipIf(!hasPython)('serves unix datagram clients, dropping unbound and oversized ones', async () => {
    const dir = tempDir();
    const backend = await echoBackend('udp4', '127.0.0.1', 'tag');
    cleanups.push(backend.close);
    const path = join(dir, 'relay.sock');
    const fd = native!.listenSocket({ family: 'unix', path, abstract: false }, { type: 'dgram' });
    const relay = new NativeUdpRelay(
      native!,
      relayOptions(fd, [{ family: 'inet', address: '127.0.0.1', port: backend.port }]),
    );
    cleanups.push(() => relay.destroy());
    relay.start();
    const bound = await unixClient(path, join(dir, 'client.sock'), 3, 100);
    expect(bound).toHaveLength(3);
    for (const [length, head] of bound) {
      expect(head).toMatch(/^\d+\|/);
      expect(length).toBe(head.indexOf('|') + 1 + 100);
    }
    // An unbound unix client has no address to answer to; one too big for UDP is cut by the kernel.
    // The counters say they were dropped; the short wait only lets a wrongly sent reply show up.
    expect(await unixClient(path, null, 2, 10, 0.3)).toEqual([]);
    expect(await unixClient(path, join(dir, 'big.sock'), 1, 70_000, 0.3)).toEqual([]);
    await expect
      .poll(() => relay.stats().dropped.truncated === 1, { timeout: 2000, message: 'truncated count' })
      .toBe(true);
    expect(relay.stats().dropped['unbound-client']).toBe(2);
    expect(relay.stats().sessionsTotal).toBe(1);
  });

  it('rejects bad options with TypeError and a non-datagram fd', () => {
    // A refused constructor has closed the fd it was given (the ownership rule): one socket each.
    const socket = (): number => inheritedSocket({ family: 'inet', address: '127.0.0.1', port: 0 }).fd;
    const backend = [{ family: 'inet' as const, address: '127.0.0.1', port: 9 }];
    expect(() => new NativeUdpRelay(native!, relayOptions(socket(), []))).toThrow(TypeError);
    expect(() => new NativeUdpRelay(native!, relayOptions(socket(), backend, { sessionsMax: 0 }))).toThrow(
      /sessionsMax/,
    );
    expect(
      () =>
        new NativeUdpRelay(native!, relayOptions(socket(), [{ family: 'inet', address: 'nope', port: 1 }])),
    ).toThrow(/IPv4/);
    const stream = native!.listenSocket(
      { family: 'inet', address: '127.0.0.1', port: 0 },
      { type: 'stream' },
    );
    expect(() => new NativeUdpRelay(native!, relayOptions(stream, backend))).toThrow(/datagram/);
  });
});
