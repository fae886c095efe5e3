/**
 * Per-source admission (issue 26), tried as the attacker: sockrelay with `-c 8` in front of an
 * echo backend, one client that opens every slot and sends nothing, and a second client from another
 * address that must be served at once. With --connections-per-source=4 the first gets 4 and is reset
 * (TCP) or ignored (UDP) beyond them, never queued and never holding a slot; the second is answered.
 *
 * Loopback gives IPv4 sources of their own (127.0.0.2, 127.0.0.3). IPv6 sources in different /64s,
 * and the dual-stack case, run in a network namespace this file makes, with documentation addresses.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { freePort } from '../helpers/net.js';
import { underSocketActivate, type RunningProcess } from '../helpers/proxy.js';
import { sourcePeer, type Peer } from './peers.js';

const LIMIT = ['-c', '8', '--udp-sessions-max', '8', '--connections-per-source', '4', '--access-log'];
const peer = sourcePeer;

/** GET /metrics, from inside `ns` when given; the lines of `family` only. */
function scrape(ns: string | null, port: number, family: string): string[] {
  const get = `fetch('http://127.0.0.1:${port}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`;
  const command = [process.execPath, '-e', get];
  const [file, ...rest] = ns ? ['ip', 'netns', 'exec', ns, ...command] : command;
  const text = execFileSync(file!, rest, { encoding: 'utf8', timeout: 10_000 });
  return text.split('\n').filter((l) => l.startsWith(`${family}{`));
}

/** The value of the sample of `family` whose labels include `reason="REASON"`, polled until it is `want`. */
async function counterReaches(
  ns: string | null,
  port: number,
  family: string,
  reason: string,
  want: number,
): Promise<number> {
  let value = NaN;
  for (let i = 0; i < 100; i++) {
    const line = scrape(ns, port, family).find((l) => l.includes(`reason="${reason}"`));
    value = line ? Number(line.split(' ').pop()) : NaN;
    if (value === want) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return value;
}

describe('per-source admission', () => {
  const cleanups = useCleanups();
  const track = <T extends Peer | RunningProcess>(x: T): T => {
    cleanups.push(() => x.stop());
    return x;
  };

  /** sockrelay under systemd-socket-activate on `listen`, in `ns` when given; metrics on 127.0.0.1:`metrics`. */
  async function proxy(
    ns: string | null,
    activate: string[],
    args: string[],
    metrics: number,
  ): Promise<RunningProcess> {
    const wrapper = ns ? ['ip', 'netns', 'exec', ns] : [];
    return track(
      await underSocketActivate(activate, [...args, `--metrics-listen=127.0.0.1:${metrics}`], wrapper),
    );
  }

  /**
   * The attack over TCP: `attacker` holds its 4 and is reset for 4 more (each at once: the peer waits
   * for each outcome before the next), then `victim` is answered while the attacker still holds its 4.
   */
  async function tcpAttack(
    ns: string | null,
    target: string,
    port: number,
    attacker: string[],
    victim: string,
  ): Promise<void> {
    const holders = attacker.map((from) =>
      track(peer(ns, 'tcp-hold', target, port, from, 8 / attacker.length)),
    );
    const held = await Promise.all(holders.map((h) => h.next('held', 1, 20_000)));
    expect(held.reduce((n, h) => n + (h.served as number), 0)).toBe(4);
    expect(held.reduce((n, h) => n + (h.reset as number), 0)).toBe(4);
    const ask = track(peer(ns, 'tcp-ask', target, port, victim));
    expect(await ask.next('answer')).toMatchObject({ text: 'hi' });
  }

  describe('IPv4 sources on loopback', () => {
    it('TCP: a client holding its 4 of 8 is reset beyond them, and another address is served at once', async () => {
      const backendPort = await freePort();
      await track(peer(null, 'tcp-echo', '127.0.0.1', backendPort)).next('listening');
      const port = await freePort();
      const metrics = await freePort();
      const relay = await proxy(
        null,
        ['-l', `127.0.0.1:${port}`],
        [...LIMIT, `127.0.0.1:${backendPort}`],
        metrics,
      );

      await tcpAttack(null, '127.0.0.1', port, ['127.0.0.2'], '127.0.0.3');

      expect(
        await counterReaches(null, metrics, 'sockrelay_connections_refused_total', 'per-source', 4),
      ).toBe(4);
      expect(
        await counterReaches(null, metrics, 'sockrelay_connections_refused_total', 'per-source-rate', 0),
      ).toBe(0);
      // The refused never took a slot: 4 of the attacker's and the victim's, nothing else, were accepted.
      const accepted = scrape(null, metrics, 'sockrelay_connections_accepted_total');
      expect(accepted.map((l) => Number(l.split(' ').pop()))).toEqual([5]);
      const warning = await relay.log.waitFor((l) => /^connections reset: source 127\.0\.0\.2 /.test(l.msg));
      expect(warning).toMatchObject({ source: '127.0.0.2', reason: 'refused-per-source', level: 40 });
      const refusedLine = await relay.log.waitFor((l) => l.end === 'refused-per-source');
      expect(refusedLine.client).toMatch(/^127\.0\.0\.2:\d+$/);
      expect((await relay.log.waitFor('sockrelay started')).sourceLimits).toEqual({
        perSource: 4,
        prefix4: 32,
        prefix6: 64,
      });
    });

    it('TCP: a client past its rate is reset, its connections before that served, another address served', async () => {
      const backendPort = await freePort();
      await track(peer(null, 'tcp-echo', '127.0.0.1', backendPort)).next('listening');
      const port = await freePort();
      const metrics = await freePort();
      await proxy(
        null,
        ['-l', `127.0.0.1:${port}`],
        ['-c', '8', '--connection-rate-per-source=3/1h', `127.0.0.1:${backendPort}`],
        metrics,
      );

      const held = await track(peer(null, 'tcp-hold', '127.0.0.1', port, '127.0.0.2', 5)).next(
        'held',
        1,
        20_000,
      );
      expect(held).toMatchObject({ served: 3, reset: 2 });
      const ask = track(peer(null, 'tcp-ask', '127.0.0.1', port, '127.0.0.3'));
      expect(await ask.next('answer')).toMatchObject({ text: 'hi' });
      expect(
        await counterReaches(null, metrics, 'sockrelay_connections_refused_total', 'per-source-rate', 2),
      ).toBe(2);
    });

    it('TCP: a slot given back is the source’s again', async () => {
      const backendPort = await freePort();
      await track(peer(null, 'tcp-echo', '127.0.0.1', backendPort)).next('listening');
      const port = await freePort();
      const relay = await proxy(
        null,
        ['-l', `127.0.0.1:${port}`],
        ['--connections-per-source=1', '--access-log', `127.0.0.1:${backendPort}`],
        await freePort(),
      );
      const first = track(peer(null, 'tcp-hold', '127.0.0.1', port, '127.0.0.2', 2));
      expect(await first.next('held')).toMatchObject({ served: 1, reset: 1 });
      await first.stop();
      await relay.log.waitFor((l) => l.end === 'eof' || l.end === 'reset-by-client');
      // The close is logged just before the slot is given back: a connection in between is refused.
      let outcome: unknown;
      for (let i = 0; i < 20 && outcome !== 1; i++) {
        const again = track(peer(null, 'tcp-hold', '127.0.0.1', port, '127.0.0.2', 1));
        outcome = (await again.next('held')).served;
        await again.stop();
      }
      expect(outcome).toBe(1);
    });

    it('TCP: the table keeps a source holding connections; of the others the least recently seen go first', async () => {
      const backendPort = await freePort();
      await track(peer(null, 'tcp-echo', '127.0.0.1', backendPort)).next('listening');
      const port = await freePort();
      const metrics = await freePort();
      // -c 8: a table of 1024 sources (core/source-table.h), which 1100 new ones overflow.
      const limits = ['-c', '8', '--connections-per-source=2', '--connection-rate-per-source=2/1h'];
      await proxy(null, ['-l', `127.0.0.1:${port}`], [...limits, `127.0.0.1:${backendPort}`], metrics);
      const holder = track(peer(null, 'tcp-hold', '127.0.0.1', port, '127.0.0.2', 2));
      expect(await holder.next('held')).toMatchObject({ served: 2, reset: 0 });

      const sweep = track(peer(null, 'tcp-sweep', '127.0.0.1', port, '127.1.0.0', 1100));
      expect(await sweep.next('swept', 1, 60_000)).toMatchObject({ served: 1100, reset: 0 });

      // The holder's count survived the flood: a third connection is still over its limit.
      const third = track(peer(null, 'tcp-hold', '127.0.0.1', port, '127.0.0.2', 1));
      expect(await third.next('held')).toMatchObject({ served: 0, reset: 1 });
      expect(
        await counterReaches(null, metrics, 'sockrelay_connections_refused_total', 'per-source', 1),
      ).toBe(1);
      // The first swept sources were forgotten (a fresh bucket); the last ones are remembered.
      // Remembered, it would have one token left; forgotten, it has two.
      const first = track(peer(null, 'tcp-hold', '127.0.0.1', port, '127.1.0.0', 2));
      expect(await first.next('held')).toMatchObject({ served: 2, reset: 0 });
      const last = track(peer(null, 'tcp-sweep', '127.0.0.1', port, '127.1.4.75', 1));
      expect(await last.next('swept')).toMatchObject({ served: 1 });
      const again = track(peer(null, 'tcp-sweep', '127.0.0.1', port, '127.1.4.75', 1));
      expect(await again.next('swept')).toMatchObject({ served: 0, reset: 1 });
      expect(
        await counterReaches(null, metrics, 'sockrelay_connections_refused_total', 'per-source-rate', 1),
      ).toBe(1);
    }, 120_000);

    it('UDP: a client holding its 4 sessions of 8 has its new ones dropped, and another address is served', async () => {
      const backendPort = await freePort();
      await track(peer(null, 'udp-echo', '127.0.0.1', backendPort)).next('listening');
      const port = await freePort();
      const metrics = await freePort();
      const relay = await proxy(
        null,
        ['-d', '-l', `127.0.0.1:${port}`],
        [...LIMIT, `127.0.0.1:${backendPort}`],
        metrics,
      );

      const attacker = track(peer(null, 'udp-hold', '127.0.0.1', port, '127.0.0.2', 8));
      await attacker.next('served', 4);
      expect(
        await counterReaches(null, metrics, 'sockrelay_udp_datagrams_dropped_total', 'per-source', 4),
      ).toBe(4);
      const ask = track(peer(null, 'udp-ask', '127.0.0.1', port, '127.0.0.3'));
      expect(await ask.next('answer')).toMatchObject({ text: 'hi' });
      expect(attacker.events.filter((e) => e.event === 'served')).toHaveLength(4);
      const warning = await relay.log.waitFor((l) => l.reason === 'per-source' && l.source === '127.0.0.2');
      expect(warning.msg).toBe('UDP datagrams dropped: source 127.0.0.2 over its --connections-per-source');
    });
  });

  const root = process.getuid?.() === 0;
  describe.skipIf(!root)('IPv6 sources in a namespace of the test (skipped: needs root for ip netns)', () => {
    const ns = `sockrelay-i26-${randomBytes(3).toString('hex')}`;
    const ip = (...args: string[]) =>
      execFileSync('ip', ['-n', ns, ...args], { stdio: 'pipe', timeout: 10_000 });
    const ADDR = {
      front: '2001:db8:f::1',
      attacker1: '2001:db8:a::1',
      attacker2: '2001:db8:a::2',
      victim: '2001:db8:b::1',
    };

    beforeAll(() => {
      execFileSync('ip', ['netns', 'add', ns], { stdio: 'pipe', timeout: 10_000 });
      ip('link', 'set', 'lo', 'up');
      for (const a of Object.values(ADDR)) ip('-6', 'addr', 'add', `${a}/128`, 'dev', 'lo', 'nodad');
    });
    afterAll(() => execFileSync('ip', ['netns', 'delete', ns], { stdio: 'pipe', timeout: 10_000 }));

    it('TCP: two addresses of one /64 share its 4, a client of another /64 is served at once', async () => {
      await track(peer(ns, 'tcp-echo', '::1', 7000)).next('listening');
      const relay = await proxy(ns, ['-l', `[${ADDR.front}]:8000`], [...LIMIT, '[::1]:7000'], 9464);

      await tcpAttack(ns, ADDR.front, 8000, [ADDR.attacker1, ADDR.attacker2], ADDR.victim);

      expect(await counterReaches(ns, 9464, 'sockrelay_connections_refused_total', 'per-source', 4)).toBe(4);
      const warning = await relay.log.waitFor((l) => l.reason === 'refused-per-source');
      expect(warning.source).toBe('2001:db8:a::/64');
    });

    it('TCP on a dual-stack socket: an IPv4 client counts as its IPv4 address, not as ::ffff:0:0/64', async () => {
      await track(peer(ns, 'tcp-echo', '::1', 7001)).next('listening');
      const relay = await proxy(ns, ['-l', '[::]:8001'], [...LIMIT, '[::1]:7001'], 9465);

      // 127.0.0.2 and 127.0.0.3 would be one source if the mapped form were cut at /64.
      await tcpAttack(ns, '127.0.0.1', 8001, ['127.0.0.2'], '127.0.0.3');
      const warning = await relay.log.waitFor((l) => l.reason === 'refused-per-source');
      expect(warning.source).toBe('127.0.0.2');
    });

    it('UDP: a /64 holding its 4 sessions has new ones dropped; a client of another /64 is served', async () => {
      await track(peer(ns, 'udp-echo', '::1', 7002)).next('listening');
      await proxy(ns, ['-d', '-l', `[${ADDR.front}]:8002`], [...LIMIT, '[::1]:7002'], 9466);

      const one = track(peer(ns, 'udp-hold', ADDR.front, 8002, ADDR.attacker1, 4));
      await one.next('served', 4);
      const two = track(peer(ns, 'udp-hold', ADDR.front, 8002, ADDR.attacker2, 4));
      expect(await counterReaches(ns, 9466, 'sockrelay_udp_datagrams_dropped_total', 'per-source', 4)).toBe(
        4,
      );
      const ask = track(peer(ns, 'udp-ask', ADDR.front, 8002, ADDR.victim));
      expect(await ask.next('answer')).toMatchObject({ text: 'hi' });
      expect(two.events.filter((e) => e.event === 'served')).toHaveLength(0);
    });
  });
});
