/**
 * What issue 12 found wrong under a real systemd, one test each; each note says what failed before
 * its fix.
 * One container per version for the whole file; the bad-flag and journal tests run last, as they
 * break and then mend sockrelay.service.
 */
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { VERSIONS } from './harness/container.js';
import { client, download, echo, received } from './harness/clients.js';
import { bootWithUnits, journalOnFailure } from './harness/suite.js';
import { dropIn, execStartDropIn, SHORTER_FLAGS, UNITS_DIR, withFlags } from './harness/units.js';
import { readFileSync, rmSync } from 'node:fs';

const MB = 1024 * 1024;
const shipped = (unit: string) => readFileSync(join(UNITS_DIR, unit), 'utf8');

describe.each(VERSIONS)('systemd %s: defects of issue 12', (version) => {
  const booted = bootWithUnits(version);

  /** A download through sockrelay.service (port 80) at 1 MB/s, under way, and the pid serving it. */
  async function streamUnderWay(bytes: number) {
    const d = download(booted.c, 80, bytes, MB);
    await expect.poll(() => received(d), { timeout: 10_000 }).toBeGreaterThan(256 * 1024);
    return { d, servedBy: (await booted.c.show('sockrelay.service', 'MainPID')).MainPID };
  }

  // Fails on 254 today: SIGTERM hands the connection to the fd store, systemd empties the store
  // because this is a stop, and the client sees a clean EOF early.
  it('systemctl stop drains an open stream to its end (FileDescriptorStoreMax= in the unit)', async () => {
    journalOnFailure(booted, 'sockrelay.service');
    const { c } = booted;
    // 3 MB at 1 MB/s: well inside the unit's --shutdown-timeout (8 s in the suite).
    const { d } = await streamUnderWay(3 * MB);
    await c.systemctl('stop', 'sockrelay.service');
    expect(await d.done).toEqual({ end: 'eof', bytes: 3 * MB, intact: true });
    expect((await c.show('sockrelay.socket', 'ActiveState')).ActiveState).toBe('active');
  });

  // Failed before ExecReload= and the re-exec: the units had no reload.
  it('systemctl reload replaces the running program and keeps a live stream, bytes intact', async () => {
    journalOnFailure(booted, 'sockrelay.service');
    const { c } = booted;
    const resumed = async () =>
      ((await c.journal('-u', 'sockrelay.service', '-o', 'cat')).match(/"resumed handed-over/g) ?? []).length;
    const resumedBefore = await resumed();
    const { d, servedBy: before } = await streamUnderWay(10 * MB);
    const reload = await c.exec(['systemctl', 'reload', 'sockrelay.service'], { timeoutMs: 30_000 });
    expect(reload.stderr.trim()).toBe('');
    expect(reload.code).toBe(0);
    // Handed over: a new MainPID (the successor), which resumed the stream.
    await expect.poll(resumed, { timeout: 15_000, interval: 250 }).toBe(resumedBefore + 1);
    await expect
      .poll(async () => (await c.show('sockrelay.service', 'MainPID')).MainPID, { timeout: 15_000 })
      .not.toBe(before);
    expect((await c.show('sockrelay.service', 'ActiveState')).ActiveState).toBe('active');
    expect(received(d)).toBeLessThan(10 * MB); // the reload did not wait for the stream to end
    expect(await d.done).toEqual({ end: 'eof', bytes: 10 * MB, intact: true });
  });

  // Fails today: the status line says "1 connections".
  it('the Type=notify status line counts one connection in the singular', async () => {
    journalOnFailure(booted, 'sockrelay.service');
    const { c } = booted;
    const { d } = await streamUnderWay(6 * MB);
    const status = async () => (await c.show('sockrelay.service', 'StatusText')).StatusText ?? '';
    await expect.poll(status, { timeout: 12_000, interval: 250 }).toMatch(/^1 /);
    expect(await status()).toMatch(/^1 connection[;,]/);
    d.child.stdin!.end();
    await d.done;
  });

  // Fails today: a warning about a textfile that cannot be there yet, and "serving" logged twice.
  it('sockrelay-metrics: a first activation logs no warning and says once that it serves metrics', async () => {
    journalOnFailure(booted, 'sockrelay-metrics.service');
    const { c } = booted;
    expect(await echo(c, 'tcp', 8002, 'm')).toEqual({ reply: 'web:m' });
    const lines = (await c.journal('-u', 'sockrelay-metrics.service', '-o', 'cat')).split('\n');
    expect(lines.filter((l) => /ENOENT/.test(l))).toEqual([]);
    expect(lines.filter((l) => /serving/.test(l))).toHaveLength(1);
  });

  // Fails today: exit 64 under Restart=on-failure restarts until the start limit and fails the socket.
  it('a bad flag keeps the .socket listening, logs at err, answers the waiting client, and a fixed config serves', async () => {
    journalOnFailure(booted, 'sockrelay.service', 'sockrelay.socket');
    const { c } = booted;
    const good = withFlags(shipped('sockrelay.service'), SHORTER_FLAGS['sockrelay.service']!);
    const badFlag = dropIn(
      c.root,
      'sockrelay.service',
      'zz-bad-flag',
      execStartDropIn(`${good} --no-such-flag`),
    );
    onTestFinished(async () => {
      rmSync(badFlag, { force: true });
      await c.systemctl('daemon-reload');
      await c.systemctl('reset-failed', 'sockrelay.service', 'sockrelay.socket');
      await c.systemctl('start', 'sockrelay.socket');
    });
    await c.systemctl('daemon-reload');
    await c.systemctl('stop', 'sockrelay.service'); // the next connection starts it with the bad flag
    const reply = await client(c, 'echo', 'tcp', '127.0.0.1', '80', 'waiting');
    // Reset by the start it caused (src/reload/answer-waiting.ts), before the client's own timeout:
    // not left in the backlog for restarts that could only fail the same way.
    expect(reply).toEqual({ error: 'ECONNRESET' });
    // Once systemd is done with the failed service (no restart pending), the socket still listens.
    await expect
      .poll(async () => (await c.show('sockrelay.service', 'SubState')).SubState, {
        timeout: 20_000,
        interval: 250,
      })
      .toMatch(/^(dead|failed)$/);
    expect(await c.show('sockrelay.service', 'NRestarts', 'ExecMainStatus')).toEqual({
      NRestarts: '0',
      ExecMainStatus: '64',
    });
    expect((await c.show('sockrelay.socket', 'ActiveState')).ActiveState).toBe('active');
    expect(await c.journal('-u', 'sockrelay.service', '-p', 'err', '-o', 'cat')).toMatch(/no-such-flag/);
    rmSync(badFlag);
    await c.systemctl('daemon-reload');
    expect(await echo(c, 'tcp', 80, 'fixed')).toEqual({ reply: 'web:fixed' });
  });

  // Fails today: every line is PRIORITY=6, and each repeats pid and time journald already has.
  it('journal priorities follow the log level; -p warning shows exactly the warnings and errors', async () => {
    journalOnFailure(booted, 'sockrelay-routed.service');
    const { c } = booted;
    // A route no socket is named for: a warning at start-up.
    const routed = withFlags(shipped('sockrelay-routed.service'), SHORTER_FLAGS['sockrelay-routed.service']!);
    const spare = dropIn(
      c.root,
      'sockrelay-routed.service',
      'zz-spare-route',
      execStartDropIn(`${routed} --route spare=127.0.0.1:1`),
    );
    onTestFinished(async () => {
      rmSync(spare, { force: true });
      await c.systemctl('daemon-reload');
    });
    await c.systemctl('daemon-reload');
    // A fresh activation, started by the connection below, whatever an earlier test left running.
    await c.systemctl('stop', 'sockrelay-routed.service');
    expect(await echo(c, 'tcp', 8000, 'w')).toEqual({ reply: 'web:w' });
    // Only this activation's entries: other tests' activations of other units log as sockrelay too.
    const { InvocationID } = await c.show('sockrelay-routed.service', 'InvocationID');
    expect(InvocationID).toMatch(/^[0-9a-f]{32}$/);
    const ours = ['-t', 'sockrelay', `_SYSTEMD_INVOCATION_ID=${InvocationID}`];

    const entries = (await c.journal(...ours, '-o', 'json', '--output-fields=MESSAGE,PRIORITY'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { MESSAGE: string; PRIORITY: string });
    const expected = (message: string): number => {
      if (message.startsWith('sockrelay: ')) return 3; // a fatal start-up error, as cli.ts prints it
      const level = (JSON.parse(message) as { level: number }).level;
      return ({ 10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2 } as Record<number, number>)[level]!;
    };
    const seen = entries.map((e) => ({ message: e.MESSAGE, priority: Number(e.PRIORITY) }));
    expect(seen.filter((e) => expected(e.message) <= 4).length).toBeGreaterThanOrEqual(2);
    expect(seen).toEqual(seen.map((e) => ({ message: e.message, priority: expected(e.message) })));
    for (const { message } of seen.filter((e) => e.message.startsWith('{'))) {
      expect(Object.keys(JSON.parse(message) as object)).not.toContain('pid');
      expect(Object.keys(JSON.parse(message) as object)).not.toContain('time');
    }
    const warnings = (await c.journal(...ours, '-p', 'warning', '-o', 'cat')).trim().split('\n');
    expect(warnings).toEqual(seen.filter((e) => expected(e.message) <= 4).map((e) => e.message));
  });
});
