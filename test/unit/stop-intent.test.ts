/**
 * The root stop hook and the service reading its answer (src/handover/stop-intent.ts and
 * stop-hook.ts), on real files: what the service trusts, and what it refuses and why.
 * Root-owned files are the point, so this runs as root, as CI does.
 */
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runStopHook } from '../../src/handover/stop-hook.js';
import { readStopIntent, writeStopIntent } from '../../src/handover/stop-intent.js';
import type { RunBusctl } from '../../src/handover/systemd-job.js';
import { tempDir } from '../helpers/net.js';
import { has } from '../helpers/requires.js';

const INVOCATION = '0123456789abcdef0123456789abcdef';
const MAIN_PID = 4242;
const env = { INVOCATION_ID: INVOCATION, MAINPID: String(MAIN_PID) };

/** A bus that answers as systemd does for a unit with `job` pending and a store of `max`. */
function bus(job: string | null, max: number): RunBusctl & { asked: number } {
  const run = async (args: string[]): Promise<string> => {
    run.asked++;
    const last = args[args.length - 1];
    if (args.includes('GetUnitByPID')) return JSON.stringify({ type: 'o', data: ['/u'] });
    if (last === 'Job') return JSON.stringify({ type: '(uo)', data: job ? [9, '/j'] : [0, '/'] });
    if (last === 'JobType') return JSON.stringify({ type: 's', data: job });
    if (last === 'FileDescriptorStoreMax') return JSON.stringify({ type: 'u', data: max });
    throw new Error(`unexpected ${args.join(' ')}`);
  };
  run.asked = 0;
  return run;
}
const unreachable: RunBusctl = () => Promise.reject(new Error('busctl call: Failed to connect to bus'));

describe('the stop hook and its answer', () => {
  let base: { path: string; remove(): void };
  let dir: string;
  let lines: Array<{ level: number; msg: string; [field: string]: unknown }>;
  beforeEach(() => {
    base = tempDir('sockrelay-stop-intent-');
    chmodSync(base.path, 0o755);
    dir = join(base.path, 'intent');
    lines = [];
  });
  afterEach(() => base.remove());
  const logger = () =>
    pino(
      { base: null, timestamp: false },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
          done();
        },
      }),
    );
  const hook = (over: Partial<Parameters<typeof runStopHook>[1]> = {}, clear = false) =>
    runStopHook(clear, { env, uid: 0, buses: [bus('restart', 512)], dir, logger: logger(), ...over });

  it.skipIf(!has('root'))(
    'asks systemd as root and leaves the answer the main process reads: a restart with a store of 512',
    async () => {
      expect(process.getuid?.()).toBe(0);
      expect(await hook()).toBe(0);
      expect(readStopIntent(env, MAIN_PID, dir)).toEqual({ job: { jobType: 'restart', fdStoreMax: 512 } });
      expect(lines).toEqual([
        { level: 30, job: 'restart', fdStoreMax: 512, mainPid: 4242, msg: 'stop-intent: told the service' },
      ]);
    },
  );

  it('tries the system bus when the private bus does not answer', async () => {
    const system = bus('stop', 0);
    expect(await hook({ buses: [unreachable, system] })).toBe(0);
    expect(system.asked).toBeGreaterThan(0);
    expect(readStopIntent(env, MAIN_PID, dir)).toEqual({ job: { jobType: 'stop', fdStoreMax: 0 } });
  });

  it('--clear removes the answer, and is content when there is none', async () => {
    await hook();
    expect(await hook({}, true)).toBe(0);
    expect(existsSync(join(dir, INVOCATION))).toBe(false);
    expect(await hook({}, true)).toBe(0);
    expect(readStopIntent(env, MAIN_PID, dir)).toEqual({ none: 'the stop hook left no answer' });
  });

  it('leaves no answer, saying why in one line, when it cannot ask, is not root or not under systemd', async () => {
    expect(await hook({ buses: [unreachable, unreachable] })).toBe(69);
    expect(await hook({ uid: 1000 })).toBe(78);
    expect(await hook({ env: { MAINPID: '1' } })).toBe(78);
    expect(existsSync(join(dir, INVOCATION))).toBe(false);
    expect(lines).toHaveLength(3);
    expect(lines.every((l) => l.level === 50 && /a restart will drain$/.test(l.msg))).toBe(true);
  });

  it('gives up on a bus that does not answer at all, within its bound, leaving no answer', async () => {
    const hung: RunBusctl = () => new Promise(() => undefined);
    // Without the bound this would wait forever.
    expect(await hook({ buses: [hung], answerMaxMs: 200 })).toBe(69);
    expect(lines).toMatchObject([{ level: 50, why: 'systemd did not answer within 200 ms' }]);
    expect(existsSync(join(dir, INVOCATION))).toBe(false);
  });

  it('has nothing to tell when the main process has already exited (an idle exit)', async () => {
    const quiet = bus('stop', 512);
    expect(await hook({ env: { INVOCATION_ID: INVOCATION }, buses: [quiet] })).toBe(0);
    expect(quiet.asked).toBe(0);
    expect(existsSync(join(dir, INVOCATION))).toBe(false);
  });

  describe('what the main process refuses to trust', () => {
    const answer = { invocation: INVOCATION, mainPid: MAIN_PID, jobType: 'restart', fdStoreMax: 512 };

    it('an answer for another invocation or another pid (stale)', () => {
      writeStopIntent(answer, dir);
      expect(readStopIntent({ INVOCATION_ID: 'f'.repeat(32) }, MAIN_PID, dir)).toEqual({
        none: 'the stop hook left no answer',
      });
      expect(readStopIntent(env, 7, dir)).toEqual({ none: 'its answer is for pid 4242, not 7' });
      writeFileSync(join(dir, INVOCATION), JSON.stringify({ v: 1, ...answer, invocation: 'a'.repeat(32) }));
      expect(readStopIntent(env, MAIN_PID, dir)).toEqual({ none: 'its answer is for another invocation' });
    });

    it('an answer someone other than root wrote, or could have: owner, file mode, directory mode', () => {
      const path = writeStopIntent(answer, dir);
      const refused = { none: 'its answer is not root-owned and root-only writable: ignored' };
      chownSync(path, 65534, 65534);
      expect(readStopIntent(env, MAIN_PID, dir)).toEqual(refused);
      chownSync(path, 0, 0);
      chmodSync(path, 0o666);
      expect(readStopIntent(env, MAIN_PID, dir)).toEqual(refused);
      chmodSync(path, 0o644);
      chmodSync(dir, 0o777);
      expect(readStopIntent(env, MAIN_PID, dir)).toEqual(refused);
      chmodSync(dir, 0o755);
      expect(readStopIntent(env, MAIN_PID, dir)).toMatchObject({ job: { jobType: 'restart' } });
    });

    it('a symlink in place of the answer, and an answer that is not JSON', () => {
      mkdirSync(dir, { mode: 0o755 });
      const elsewhere = join(base.path, 'elsewhere');
      writeFileSync(elsewhere, JSON.stringify({ v: 1, ...answer }), { mode: 0o644 });
      symlinkSync(elsewhere, join(dir, INVOCATION));
      expect(readStopIntent(env, MAIN_PID, dir)).toEqual({ none: 'cannot open its answer (ELOOP)' });
      writeStopIntent(answer, dir);
      writeFileSync(join(dir, INVOCATION), 'restart');
      expect(readStopIntent(env, MAIN_PID, dir)).toMatchObject({ none: expect.stringMatching(/unreadable/) });
      expect(readFileSync(elsewhere, 'utf8')).toMatch(/restart/);
    });

    it('no $INVOCATION_ID: not started by systemd', () => {
      expect(readStopIntent({}, MAIN_PID, dir)).toEqual({
        none: '$INVOCATION_ID is not set: not run by systemd',
      });
    });
  });
});
