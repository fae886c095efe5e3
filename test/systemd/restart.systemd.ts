/**
 * What restart, reload and stop do to live traffic under the shipped units (DynamicUser=yes,
 * hardened; drop-ins shorten only timeouts), on systemd 252 and >= 254.
 *
 * A restart keeps TCP connections and UDP sessions through the fd store. That needs to know the
 * SIGTERM is a restart, which only root can ask systemd: the units' `ExecStop=-+… stop-intent`
 * hook asks and leaves the answer for the service. Before the hook, every SIGTERM under these
 * units drained, so a restart reset any stream longer than --shutdown-timeout (8 s here).
 *
 * Each 10 MB transfer runs at 1 MB/s, so it outlasts the shutdown timeout: only a handover (restart
 * to the fd store, reload to a successor process) can carry it to its end; a stop drains it until
 * the timeout and then resets it. The outcome of each is printed for the closing note.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { rmSync } from 'node:fs';
import { VERSIONS } from './harness/container.js';
import { client, download, received, udpSession, type Download, type Reply } from './harness/clients.js';
import { bootWithUnits, journalOnFailure } from './harness/suite.js';
import { dropIn } from './harness/units.js';

const MB = 1024 * 1024;

/** The fields of the service's "handed over to the fd store" log line, the last one in the journal. */
function handedOver(journal: string): Record<string, unknown> | undefined {
  const line = journal
    .split('\n')
    .filter((l) => l.includes('"handed over to the fd store"'))
    .at(-1);
  return line === undefined ? undefined : (JSON.parse(line) as Record<string, unknown>);
}
const TEN_MB = 10 * MB;

describe.each(VERSIONS)('systemd %s: restart, reload and stop of live traffic', (version) => {
  const booted = bootWithUnits(version);

  /** Connections the web backend (behind sockrelay.service) has accepted so far. */
  const backendAccepted = async (): Promise<number> => {
    const reply = await client(booted.c, 'echo', 'tcp', '127.0.0.1', '8080', 'accepted\n');
    return Number(/accepted=(\d+)/.exec(String(reply.reply))?.[1]);
  };

  /** Starts a 10 MB download through port 80, lets it get under way, acts, and reports its end. */
  async function tenMegabytes(
    act: () => Promise<unknown>,
  ): Promise<{ end: Reply; seconds: number; before: string }> {
    const accepted = await backendAccepted();
    const d: Download = download(booted.c, 80, TEN_MB, MB);
    await expect.poll(() => received(d), { timeout: 10_000 }).toBeGreaterThan(512 * 1024);
    const before = (await booted.c.show('sockrelay.service', 'MainPID')).MainPID!;
    const startedAt = Date.now();
    await act();
    const command = (Date.now() - startedAt) / 1000;
    const end = await d.done;
    const seconds = (Date.now() - startedAt) / 1000;
    // One backend connection for the download (the question itself is the one more counted here).
    expect(await backendAccepted()).toBe(accepted + 2);
    console.log(
      `systemd ${version}: 10 MB at 1 MB/s: ${JSON.stringify(end)}, ended ${seconds.toFixed(1)} s after the command, which took ${command.toFixed(1)} s`,
    );
    return { end, seconds, before };
  }

  it('systemctl restart keeps a 10 MB stream: every byte intact, one backend connection, a new process', async () => {
    journalOnFailure(booted, 'sockrelay.service');
    const { c } = booted;
    const { end, before } = await tenMegabytes(() => c.systemctl('restart', 'sockrelay.service'));
    expect(end).toEqual({ end: 'eof', bytes: TEN_MB, intact: true });
    expect((await c.show('sockrelay.service', 'MainPID')).MainPID).not.toBe(before);
    const journal = await c.journal('-u', 'sockrelay.service', '-o', 'cat');
    expect(journal).toMatch(/"job":"restart","fdStoreMax":512,.*"msg":"stop-intent: told the service"/);
    expect(handedOver(journal)).toMatchObject({ storedConnections: 1, overflow: 0, from: 'stop hook' });
  });

  /** What `systemctl status` says of the main process and the state, once the successor is main. */
  async function mainAfterReload(before: string): Promise<{ pid: string; active: string }> {
    const { c } = booted;
    // On 252 `systemctl reload` returns once ExecReload= has sent SIGHUP; on 254 after READY=1.
    await expect
      .poll(async () => (await c.show('sockrelay.service', 'MainPID')).MainPID, { timeout: 20_000 })
      .not.toBe(before);
    const status = (await c.exec(['systemctl', 'status', '--no-pager', '-n0', 'sockrelay.service'])).stdout;
    return {
      pid: /Main PID: (\d+)/.exec(status)?.[1] ?? '',
      active: /Active: (\S+ \(\S+\))/.exec(status)?.[1] ?? '',
    };
  }

  // The pid changes now: the successor is a new process (it was the same, re-exec'd in place).
  it('systemctl reload keeps a 10 MB stream, handed to a new main process, active (running)', async () => {
    journalOnFailure(booted, 'sockrelay.service');
    const { c } = booted;
    let main: { pid: string; active: string } | undefined;
    let cmdline = '';
    const { end } = await tenMegabytes(async () => {
      const before = (await c.show('sockrelay.service', 'MainPID')).MainPID!;
      await c.systemctl('reload', 'sockrelay.service');
      main = await mainAfterReload(before);
      // Read now: once the stream has ended, the suite's --exit-idle-time=3s ends the process.
      cmdline = (await c.exec(['cat', `/proc/${main.pid}/cmdline`])).stdout;
    });
    expect(end).toEqual({ end: 'eof', bytes: TEN_MB, intact: true });
    expect(main?.active).toBe('active (running)');
    expect(cmdline).toContain('sockrelay');
    // The main process is the one its predecessor handed over to.
    const journal = await c.journal('-u', 'sockrelay.service', '-o', 'cat');
    expect(journal).toContain(`"successor":${main!.pid},`);
    // systemd neither supervises a process that is not its child nor heard from the successor
    // before it was the main process.
    expect(await c.journal('-u', 'sockrelay.service', '-o', 'cat')).not.toMatch(
      /not our child|reception only permitted/,
    );
  });

  it('systemctl stop drains a 10 MB stream until --shutdown-timeout, then resets it: never a clean EOF', async () => {
    journalOnFailure(booted, 'sockrelay.service');
    const { c } = booted;
    const { end } = await tenMegabytes(() => c.systemctl('stop', 'sockrelay.service'));
    expect(end).toMatchObject({ end: 'error', code: 'ECONNRESET', intact: true });
    expect(Number(end.bytes)).toBeLessThan(TEN_MB);
    expect((await c.show('sockrelay.socket', 'ActiveState')).ActiveState).toBe('active');
  });

  // A stop at any moment of a reload drains the stream like any stop (until --shutdown-timeout,
  // then a reset: never a clean EOF on a cut stream), and every process of the unit exits 0.
  it.each([0, 50, 100, 200, 500])(
    'systemctl stop %i ms after a reload drains the 10 MB stream like any stop, and the unit ends cleanly',
    async (delayMs) => {
      journalOnFailure(booted, 'sockrelay.service');
      const { c } = booted;
      const resets = async () =>
        ((await c.journal('-u', 'sockrelay.service', '-o', 'cat')).match(/second signal/g) ?? []).length;
      const resetsBefore = await resets();
      const { end } = await tenMegabytes(async () => {
        await c.systemctl('reload', '--no-block', 'sockrelay.service');
        await new Promise((r) => setTimeout(r, delayMs));
        await c.systemctl('stop', 'sockrelay.service');
      });
      console.log(`systemd ${version}: stop ${delayMs} ms after a reload: ${JSON.stringify(end)}`);
      expect(end).toMatchObject({ intact: true });
      // Either drained to its end or reset at the timeout: never an EOF before the end.
      if (end.end === 'eof') expect(end.bytes).toBe(TEN_MB);
      else expect(end).toMatchObject({ end: 'error', code: 'ECONNRESET' });
      expect(await c.show('sockrelay.service', 'ActiveState', 'Result', 'ExecMainStatus')).toEqual({
        ActiveState: 'inactive',
        Result: 'success',
        ExecMainStatus: '0',
      });
      expect(await resets()).toBe(resetsBefore);
    },
  );

  it('without the stop hook a restart drains, and the stream it cannot finish ends in a reset, not EOF', async () => {
    journalOnFailure(booted, 'sockrelay.service');
    const { c } = booted;
    const noHook = dropIn(c.root, 'sockrelay.service', 'zz-no-hook', '[Service]\nExecStop=\nExecStopPost=\n');
    onTestFinished(async () => {
      rmSync(noHook, { force: true });
      await c.systemctl('daemon-reload');
    });
    await c.systemctl('daemon-reload');
    const { end } = await tenMegabytes(() => c.systemctl('restart', 'sockrelay.service'));
    expect(end).toMatchObject({ end: 'error', code: 'ECONNRESET', intact: true });
  });

  it('a proxy written by `sockrelay units` for the template keeps a stream across a restart too', async () => {
    journalOnFailure(booted, 'sockrelay@gen.service');
    const { c } = booted;
    await c.run([
      '/usr/local/bin/sockrelay',
      'units',
      '--listen',
      '127.0.0.1:8004',
      '--name',
      'gen',
      '--write',
      '/etc/systemd/system',
      '127.0.0.1:8080',
    ]);
    await c.systemctl('daemon-reload');
    await c.systemctl('start', 'sockrelay@gen.socket');
    const d = download(c, 8004, 3 * MB, MB);
    await expect.poll(() => received(d), { timeout: 10_000 }).toBeGreaterThan(512 * 1024);
    await c.systemctl('restart', 'sockrelay@gen.service');
    expect(await d.done).toEqual({ end: 'eof', bytes: 3 * MB, intact: true });
    expect(handedOver(await c.journal('-u', 'sockrelay@gen.service', '-o', 'cat'))).toMatchObject({
      storedConnections: 1,
      from: 'stop hook',
    });
  });

  it('systemctl restart keeps a UDP session: the backend sees the same source port, datagrams both ways', async () => {
    journalOnFailure(booted, 'sockrelay-dualstack.service');
    const { c } = booted;
    const session = udpSession(c, 5000);
    const first = await session.ask('whoami');
    expect(first.reply).toMatch(/^dual:from=\d+$/);
    const before = (await c.show('sockrelay-dualstack.service', 'MainPID')).MainPID;
    await c.systemctl('restart', 'sockrelay-dualstack.service');
    expect((await c.show('sockrelay-dualstack.service', 'MainPID')).MainPID).not.toBe(before);
    expect(await session.ask('whoami')).toEqual(first);
    expect(await session.ask('after the restart')).toEqual({ reply: 'dual:after the restart' });
    expect(handedOver(await c.journal('-u', 'sockrelay-dualstack.service', '-o', 'cat'))).toMatchObject({
      storedSessions: 1,
      from: 'stop hook',
    });
  });
});
