import { describe, expect, it } from 'vitest';
import { VERSIONS } from './harness/container.js';
import { echo } from './harness/clients.js';
import { bootWithUnits, journalOnFailure } from './harness/suite.js';

describe.each(VERSIONS)('systemd %s: activation and idle exit (sockrelay.socket)', (version) => {
  const booted = bootWithUnits(version);

  it('the first connection activates the service', async () => {
    journalOnFailure(booted, 'sockrelay.service');
    const { c } = booted;
    expect((await c.show('sockrelay.service', 'ActiveState')).ActiveState).toBe('inactive');
    expect(await echo(c, 'tcp', 80, 'first')).toEqual({ reply: 'web:first' });
    expect((await c.show('sockrelay.service', 'ActiveState')).ActiveState).toBe('active');
  });

  it('idle exit leaves the service inactive (dead) with Result=success, and the next connection re-activates', async () => {
    journalOnFailure(booted, 'sockrelay.service');
    const { c } = booted;
    await expect
      .poll(async () => c.show('sockrelay.service', 'ActiveState', 'SubState', 'Result'), {
        timeout: 15_000,
        interval: 250,
      })
      .toEqual({ ActiveState: 'inactive', SubState: 'dead', Result: 'success' });
    expect((await c.show('sockrelay.socket', 'ActiveState')).ActiveState).toBe('active');
    expect(await echo(c, 'tcp', 80, 'again')).toEqual({ reply: 'web:again' });
    expect((await c.show('sockrelay.service', 'ActiveState')).ActiveState).toBe('active');
  });
});
