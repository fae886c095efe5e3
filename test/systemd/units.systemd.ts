/**
 * The shipped units, as shipped (drop-ins shorten only timeouts), under a booted systemd 252 and
 * >= 254: what works today. One container per version for the whole file.
 */
import { describe, expect, it } from 'vitest';
import { VERSIONS } from './harness/container.js';
import { client, echo } from './harness/clients.js';
import { bootWithUnits, journalOnFailure } from './harness/suite.js';

describe.each(VERSIONS)('systemd %s: the shipped units', (version) => {
  const booted = bootWithUnits(version);
  const state = (unit: string) => booted.c.show(unit, 'ActiveState', 'SubState', 'Result');
  const activeState = async () => (await state('sockrelay.service')).ActiveState;

  it("boots the systemd it names: Debian 12's own 252, or >= 254 from bookworm-backports", async () => {
    const major = Number(/^systemd (\d+)/.exec(await booted.c.run(['systemctl', '--version']))?.[1]);
    if (version === '252') expect(major).toBe(252);
    else expect(major).toBeGreaterThanOrEqual(254);
  });

  it('sockrelay.socket: the first connection activates the service', async () => {
    journalOnFailure(booted, 'sockrelay.service');
    const { c } = booted;
    expect((await state('sockrelay.service')).ActiveState).toBe('inactive');
    expect(await echo(c, 'tcp', 80, 'first')).toEqual({ reply: 'web:first' });
    // The engines relay the waiting client before READY=1 is said (daemon.ts): the reply can come
    // back before PID 1 has read READY=1, so the service is active by then or within moments.
    await expect.poll(activeState, { timeout: 10_000, interval: 50 }).toBe('active');
    // Type=notify: READY=1 came with a STATUS= line.
    expect((await c.show('sockrelay.service', 'StatusText')).StatusText).toMatch(/connection.*bytes in/);
  });

  it('sockrelay.socket: idle exit leaves the service inactive (dead) with Result=success; the next connection re-activates', async () => {
    journalOnFailure(booted, 'sockrelay.service');
    const { c } = booted;
    await expect
      .poll(() => state('sockrelay.service'), { timeout: 15_000, interval: 250 })
      .toEqual({ ActiveState: 'inactive', SubState: 'dead', Result: 'success' });
    expect((await state('sockrelay.socket')).ActiveState).toBe('active');
    expect(await echo(c, 'tcp', 80, 'again')).toEqual({ reply: 'web:again' });
    await expect.poll(activeState, { timeout: 10_000, interval: 50 }).toBe('active');
  });

  it('sockrelay-dualstack: UDP and TCP on one port, IPv4 and IPv6', async () => {
    journalOnFailure(booted, 'sockrelay-dualstack.service');
    const { c } = booted;
    expect(await echo(c, 'udp', 5000, 'dgram')).toEqual({ reply: 'dual:dgram' });
    expect(await echo(c, 'tcp', 5000, 'stream')).toEqual({ reply: 'dual:stream' });
    expect(await echo(c, 'tcp', 5000, 'six', '::1')).toEqual({ reply: 'dual:six' });
    expect(await echo(c, 'udp', 5000, 'six', '::1')).toEqual({ reply: 'dual:six' });
    expect(Number((await c.show('sockrelay-dualstack.service', 'NRestarts')).NRestarts)).toBe(0);
  });

  it('sockrelay-routed: FileDescriptorName= routes web and admin to their own backends', async () => {
    journalOnFailure(booted, 'sockrelay-routed.service');
    const { c } = booted;
    expect(await echo(c, 'tcp', 8000, 'w')).toEqual({ reply: 'web:w' });
    expect(await echo(c, 'tcp', 9000, 'a')).toEqual({ reply: 'admin:a' });
  });

  it('sockrelay-private: the hardened unit without a network proxies to a unix socket', async () => {
    journalOnFailure(booted, 'sockrelay-private.service');
    const { c } = booted;
    expect(await echo(c, 'tcp', 8001, 'p')).toEqual({ reply: 'private:p' });
    expect((await c.show('sockrelay-private.service', 'PrivateNetwork')).PrivateNetwork).toBe('yes');
  });

  it('sockrelay-inetd: Accept=yes starts one instance per connection, which goes away after it', async () => {
    journalOnFailure(booted, 'sockrelay-inetd@*');
    const { c } = booted;
    const [one, two] = await Promise.all([echo(c, 'tcp', 7000, 'one'), echo(c, 'tcp', 7000, 'two')]);
    expect([one, two]).toEqual([{ reply: 'inetd:one' }, { reply: 'inetd:two' }]);
    expect(Number((await c.show('sockrelay-inetd.socket', 'NAccepted')).NAccepted)).toBe(2);
    await expect
      .poll(
        async () =>
          (await c.run(['systemctl', 'list-units', '--all', '--no-legend', 'sockrelay-inetd@*'])).trim(),
        {
          timeout: 15_000,
          interval: 250,
        },
      )
      .toBe('');
  });

  it('sockrelay-metrics: proxies and serves /metrics', async () => {
    journalOnFailure(booted, 'sockrelay-metrics.service');
    const { c } = booted;
    expect(await echo(c, 'tcp', 8002, 'm')).toEqual({ reply: 'web:m' });
    const metrics = await client(c, 'http', 'http://127.0.0.1:9464/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^sockrelay_\w+/m);
  });

  it('sockrelay-metrics: WatchdogSec= kills a stopped process, and Restart= brings it back', async () => {
    journalOnFailure(booted, 'sockrelay-metrics.service');
    const { c } = booted;
    await echo(c, 'tcp', 8002, 'wake');
    const { MainPID: pid } = await c.show('sockrelay-metrics.service', 'MainPID');
    expect(Number(pid)).toBeGreaterThan(0);
    await c.systemctl('kill', '--kill-whom=main', '--signal=SIGSTOP', 'sockrelay-metrics.service');
    await expect
      .poll(() => c.journal('-u', 'sockrelay-metrics.service', '--grep', 'Watchdog timeout'), {
        timeout: 15_000,
        interval: 500,
      })
      .toMatch(/Watchdog timeout/);
    await expect
      .poll(async () => await c.show('sockrelay-metrics.service', 'MainPID', 'ActiveState'), {
        timeout: 15_000,
        interval: 250,
      })
      .toEqual({ MainPID: expect.not.stringMatching(`^(0|${pid})$`), ActiveState: 'active' });
    expect(await echo(c, 'tcp', 8002, 'after')).toEqual({ reply: 'web:after' });
  });

  it('sockrelay-ondemand: a late backend holds the client; StopWhenUnneeded= stops it after the idle exit; both come back', async () => {
    journalOnFailure(booted, 'sockrelay-ondemand.service', 'heavy-backend.service');
    const { c } = booted;
    const startedAt = Date.now();
    // heavy-backend listens only 3 s after it starts: the client is held, not refused.
    expect(await echo(c, 'tcp', 3000, 'held')).toEqual({ reply: 'heavy:held' });
    expect(Date.now() - startedAt).toBeGreaterThan(2_500);
    expect((await state('heavy-backend.service')).ActiveState).toBe('active');
    await expect
      .poll(
        async () => [
          (await state('sockrelay-ondemand.service')).ActiveState,
          (await state('heavy-backend.service')).ActiveState,
        ],
        {
          timeout: 20_000,
          interval: 250,
        },
      )
      .toEqual(['inactive', 'inactive']);
    expect((await state('sockrelay-ondemand.service')).Result).toBe('success');
    expect(await echo(c, 'tcp', 3000, 'back')).toEqual({ reply: 'heavy:back' });
    expect((await state('heavy-backend.service')).ActiveState).toBe('active');
  });
});
