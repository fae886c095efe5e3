/**
 * units/transparent/transparent.conf, the drop-in transparent mode needs, read by systemd as it would
 * be installed: under sockrelay@NAME.service.d/ next to the shipped template, which must still verify
 * without a word (a typo in a drop-in is only a warning to systemd, so the output is what counts).
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { buildRoot, verify } from '../helpers/systemd-analyze.js';
import { has } from '../helpers/requires.js';

const unit = (path: string): string => readFileSync(new URL(`../../units/${path}`, import.meta.url), 'utf8');
const DROP_IN = unit('transparent/transparent.conf');

async function verifyWith(dropIn: string) {
  const root = await buildRoot(
    new Map([
      ['sockrelay@.service', unit('sockrelay@.service')],
      ['sockrelay@example.socket', unit('sockrelay@example.socket')],
      ['sockrelay@example.service.d/transparent.conf', dropIn],
    ]),
  );
  roots.push(root);
  return verify(root, 'sockrelay@example.service');
}

const roots: string[] = [];

describe.skipIf(!has('systemd-analyze'))('the transparent-mode drop-in', () => {
  afterEach(async () => {
    for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
  });

  it('grants CAP_NET_ADMIN back past the template’s empty bounding set, and nothing else', () => {
    const directives = DROP_IN.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(directives).toEqual([
      '[Service]',
      'AmbientCapabilities=CAP_NET_ADMIN',
      'CapabilityBoundingSet=CAP_NET_ADMIN',
    ]);
  });

  it('verifies with the template: systemd-analyze prints nothing', async () => {
    expect(await verifyWith(DROP_IN)).toEqual({ code: 0, signal: null, stdout: '', stderr: '' });
  }, 60_000);

  it('the check can fail: a misspelt key is reported', async () => {
    const broken = DROP_IN.replace('AmbientCapabilities=', 'AmbientCapability=');
    expect((await verifyWith(broken)).stderr).toMatch(/Unknown key 'AmbientCapability'/);
  }, 60_000);
});
