/**
 * A backend name with several addresses, the first a black hole (SYNs dropped): the engine must not
 * spend the whole connect timeout on it. The next address starts after a short delay while the first
 * is still pending (Happy Eyeballs, RFC 8305); the first to connect wins and the others are closed.
 */
import { describe, expect, it, vi } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { blackHole, synSentTo, type BlackHole } from '../helpers/black-hole.js';
import { resolveAddress } from '../../src/backend/resolve.js';
import { parseAddress } from '../../src/config/address.js';
import { runEngine, inet, type RunningEngine } from '../helpers/engines.js';
import {
  dial,
  echo,
  randomBytes,
  sendAndCollect,
  sha256,
  startServer,
  type TestServer,
} from '../helpers/net.js';
import { has } from '../helpers/requires.js';

const cleanups = useCleanups();

async function setUp(options: { connectTimeoutMs: number }): Promise<{
  hole: BlackHole;
  backend: TestServer;
  relay: RunningEngine;
}> {
  const hole = await blackHole('inet6');
  cleanups.push(() => hole.close());
  const backend = await startServer(echo);
  cleanups.push(() => backend.close());
  const relay = runEngine([hole.address, inet(backend.port)], options);
  cleanups.push(() => relay.close());
  return { hole, backend, relay };
}

describe.skipIf(!has('ss'))('a black-holed first backend address', () => {
  // The connect timeout is far longer than the test waits: only racing the second address can pass.
  for (const connectTimeoutMs of [30_000, 0]) {
    it(`is raced by the next address, which serves the client (connect timeout ${connectTimeoutMs} ms)`, async () => {
      const { hole, relay } = await setUp({ connectTimeoutMs });
      const payload = randomBytes(100_000);
      const exchange = await sendAndCollect(dial(relay.port), payload, 5000);
      expect(exchange.error).toBeNull();
      expect(sha256(exchange.received)).toBe(sha256(payload));
      // The losing attempt is closed, not left to the kernel's SYN retries.
      await vi.waitFor(() => expect(synSentTo(hole.address)).toBe(0), { timeout: 5000 });
    });
  }

  it('still fails at the connect timeout when every address is a black hole', async () => {
    const first = await blackHole('inet6');
    const second = await blackHole('inet');
    cleanups.push(() => first.close());
    cleanups.push(() => second.close());
    const relay = runEngine([first.address, second.address], { connectTimeoutMs: 700 });
    cleanups.push(() => relay.close());
    const exchange = await sendAndCollect(dial(relay.port), Buffer.from('hello'), 5000);
    expect(exchange.received.length).toBe(0);
    expect(exchange.error?.code).toBe('ECONNRESET');
    expect(relay.engine.stats().listeners[0]!.failedTimeout).toBe(1);
    await vi.waitFor(() => expect(synSentTo(first.address) + synSentTo(second.address)).toBe(0));
  });
});

describe('the order a name resolves to', () => {
  it('alternates the families, from the first result', async () => {
    const lookup = async (): Promise<Array<{ address: string; family: number }>> => [
      { address: '2001:db8::1', family: 6 },
      { address: '2001:db8::2', family: 6 },
      { address: '2001:db8::3', family: 6 },
      { address: '198.51.100.1', family: 4 },
    ];
    const addresses = await resolveAddress(parseAddress('db.example:5432'), lookup);
    expect(addresses.map((a) => (a.family === 'unix' ? a.path : a.address))).toEqual([
      '2001:db8::1',
      '198.51.100.1',
      '2001:db8::2',
      '2001:db8::3',
    ]);
  });
});
