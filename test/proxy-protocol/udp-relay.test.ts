/**
 * PROXY v2 on every datagram, through both UDP relays on real loopback sockets.
 * Expected headers are spelled out in bytes from the spec, not produced by our
 * encoder, so the native builder and the TypeScript one are each held to it.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import type { SocketAddress } from '../../src/native/binding.js';
import {
  Client,
  hasPython,
  inheritedSocket,
  makeRelay,
  native,
  relayOptions,
  unixClient,
} from '../udp/helpers.js';

const SIG = '0d0a0d0a000d0a515549540a';
const port16 = (p: number): string => p.toString(16).padStart(4, '0');
const sun = (text: string): string => Buffer.from(text, 'latin1').toString('hex').padEnd(216, '0');

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A backend that keeps every datagram it gets and answers each with `ok`. */
async function recordingBackend(type: 'udp4' | 'udp6', address: string) {
  const socket = dgram.createSocket(type);
  const received: Buffer[] = [];
  socket.on('message', (data, from) => {
    received.push(data);
    socket.send('ok', from.port, from.address);
  });
  socket.bind(0, address);
  await once(socket, 'listening', { signal: AbortSignal.timeout(2000) });
  cleanups.push(() => socket.close());
  return {
    port: socket.address().port,
    address: {
      family: type === 'udp4' ? 'inet' : 'inet6',
      address,
      port: socket.address().port,
    } as SocketAddress,
    received,
    async waitFor(count: number): Promise<Buffer[]> {
      await expect
        .poll(() => received.length, {
          timeout: 3000,
          message: `${count} datagrams at the backend (have ${received.length})`,
        })
        .toBeGreaterThanOrEqual(count);
      return received;
    },
  };
}

async function client(type: 'udp4' | 'udp6', address: string): Promise<Client> {
  const c = await Client.open(type, address);
  cleanups.push(() => c.close());
  return c;
}

describe.skipIf(!native)('PROXY v2 on UDP', () => {
  it('puts the header on every datagram, IPv4, and counts only payload bytes', async () => {
    const backend = await recordingBackend('udp4', '127.0.0.1');
    const { fd, port } = inheritedSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const relay = makeRelay(relayOptions(fd, [backend.address], { proxyProtocol: 'v2' }));
    cleanups.push(() => relay.destroy());
    relay.start();
    const c = await client('udp4', '127.0.0.1');
    for (const text of ['one', 'two', 'three']) {
      expect((await c.request(text, port, '127.0.0.1')).data.toString()).toBe('ok');
    }
    const header = `${SIG}2112000c7f0000017f000001${port16(c.port)}${port16(port)}`;
    expect((await backend.waitFor(3)).map((d) => d.toString('hex'))).toEqual(
      ['one', 'two', 'three'].map((t) => header + Buffer.from(t).toString('hex')),
    );
    await expect
      .poll(() => relay.stats().datagramsIn === 3, { timeout: 2000, message: 'counters' })
      .toBe(true);
    expect(relay.stats().bytesIn).toBe(BigInt('onetwothree'.length));
  });

  it('IPv6', async () => {
    const backend = await recordingBackend('udp6', '::1');
    const { fd, port } = inheritedSocket({ family: 'inet6', address: '::1', port: 0 });
    const relay = makeRelay(relayOptions(fd, [backend.address], { proxyProtocol: 'v2' }));
    cleanups.push(() => relay.destroy());
    relay.start();
    const c = await client('udp6', '::1');
    await c.request('hello', port, '::1');
    const loopback = '00000000000000000000000000000001';
    expect((await backend.waitFor(1))[0]!.toString('hex')).toBe(
      `${SIG}21220024${loopback}${loopback}${port16(c.port)}${port16(port)}` +
        Buffer.from('hello').toString('hex'),
    );
  });

  it('drops a datagram the header would push past 65,507 bytes as too-large, and passes one that fits', async () => {
    const backend = await recordingBackend('udp4', '127.0.0.1');
    const { fd, port } = inheritedSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const relay = makeRelay(relayOptions(fd, [backend.address], { proxyProtocol: 'v2' }));
    cleanups.push(() => relay.destroy());
    relay.start();
    const c = await client('udp4', '127.0.0.1');
    // 28 header bytes for IPv4: 65,479 + 28 = 65,507 fits exactly; one more does not.
    await c.send(Buffer.alloc(65_480, 1), port, '127.0.0.1');
    await expect
      .poll(() => relay.stats().dropped['too-large'] === 1, { timeout: 2000, message: 'too-large drop' })
      .toBe(true);
    expect((await c.request(Buffer.alloc(65_479, 2), port, '127.0.0.1')).data.toString()).toBe('ok');
    const [arrived] = await backend.waitFor(1);
    expect(arrived!.length).toBe(65_507);
    expect(backend.received).toHaveLength(1);
  });
});

describe.skipIf(!native)('PROXY v2 on UDP: pinned sources and unix sockets', () => {
  it('names the address the client sent to, from IP_PKTINFO, on a wildcard dual-stack socket', async () => {
    const backend = await recordingBackend('udp4', '127.0.0.1');
    const { fd, port } = inheritedSocket({ family: 'inet6', address: '::', port: 0 });
    const relay = makeRelay(relayOptions(fd, [backend.address], { proxyProtocol: 'v2' }));
    cleanups.push(() => relay.destroy());
    relay.start();
    const c = await client('udp4', '127.0.0.1');
    await c.request('v4', port, '127.0.0.2');
    // An IPv4 client of a dual-stack socket is UDP4, and the destination is 127.0.0.2, not ::.
    expect((await backend.waitFor(1))[0]!.toString('hex')).toBe(
      `${SIG}2112000c7f0000017f000002${port16(c.port)}${port16(port)}` + Buffer.from('v4').toString('hex'),
    );
  });

  it.skipIf(!hasPython)('unix datagram clients: two sun_path fields', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sockrelay-pp-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const backend = await recordingBackend('udp4', '127.0.0.1');
    const path = join(dir, 'relay.sock');
    const fd = native!.listenSocket({ family: 'unix', path, abstract: false }, { type: 'dgram' });
    const relay = makeRelay(relayOptions(fd, [backend.address], { proxyProtocol: 'v2' }));
    cleanups.push(() => relay.destroy());
    relay.start();
    const clientPath = join(dir, 'client.sock');
    expect(await unixClient(path, clientPath, 1, 4)).toHaveLength(1);
    expect((await backend.waitFor(1))[0]!.toString('hex')).toBe(
      `${SIG}213200d8${sun(clientPath)}${sun(path)}00000000`,
    );
  });
});
