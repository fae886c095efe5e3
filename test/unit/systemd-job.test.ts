import { describe, expect, it } from 'vitest';
import { FdStore } from '../../src/handover/fd-store.js';
import {
  askUnitJob,
  busctlData,
  decideOnSigterm,
  isRestartJob,
  type RunBusctl,
} from '../../src/handover/systemd-job.js';

const UNIT = '/org/freedesktop/systemd1/unit/sockrelay_2eservice';
const JOB = '/org/freedesktop/systemd1/job/42';

/** Answers as systemd's bus does, for a unit with `job` pending (or none) and FileDescriptorStoreMax=`max`. */
function systemdAnswering(job: string | null, max: number | null): RunBusctl & { asked: string[][] } {
  const asked: string[][] = [];
  const run = async (args: string[]): Promise<string> => {
    asked.push(args);
    const last = args[args.length - 1];
    if (args.includes('GetUnitByPID')) return JSON.stringify({ type: 'o', data: [UNIT] });
    if (last === 'Job') return JSON.stringify({ type: '(uo)', data: job ? [42, JOB] : [0, '/'] });
    if (last === 'JobType' && args[2] === JOB) return JSON.stringify({ type: 's', data: job });
    if (last === 'FileDescriptorStoreMax' && max !== null) return JSON.stringify({ type: 'u', data: max });
    throw new Error(`Failed to get property ${last}`);
  };
  return Object.assign(run, { asked });
}

const notify = { sdNotify: () => undefined };

describe('busctlData', () => {
  it('returns the data of a reply of the expected type', () => {
    expect(busctlData('{"type":"(uo)","data":[7,"/org/freedesktop/systemd1/job/7"]}\n', '(uo)')).toEqual([
      7,
      '/org/freedesktop/systemd1/job/7',
    ]);
    expect(busctlData('{"type":"u","data":512}', 'u')).toBe(512);
  });

  it('rejects a reply of another type, and output that is not JSON', () => {
    expect(() => busctlData('{"type":"s","data":"512"}', 'u')).toThrow(/type s, expected u/);
    expect(() => busctlData('u 512', 'u')).toThrow(expect.objectContaining({ code: 'ERR_BUS_REPLY' }));
    expect(() => busctlData('null', 'u')).toThrow(/expected u/);
  });
});

describe('isRestartJob', () => {
  it('is true only for jobs that start the unit again after stopping it', () => {
    expect(['restart', 'try-restart'].map(isRestartJob)).toEqual([true, true]);
    expect(['stop', 'start', 'reload', 'verify-active', null].map(isRestartJob)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('askUnitJob', () => {
  it('asks for the unit of the pid, its job type and its store size', async () => {
    const run = systemdAnswering('restart', 512);
    expect(await askUnitJob(1234, run)).toEqual({ jobType: 'restart', fdStoreMax: 512 });
    expect(run.asked[0]).toContain('1234');
  });

  it('reports no job without asking for a job type', async () => {
    const run = systemdAnswering(null, 0);
    expect(await askUnitJob(1, run)).toEqual({ jobType: null, fdStoreMax: 0 });
    expect(run.asked.some((a) => a.includes('JobType'))).toBe(false);
  });
});

describe('decideOnSigterm', () => {
  it('hands over on a restart, taking the store size from systemd when $FDSTORE did not say (252)', async () => {
    const decision = await decideOnSigterm(new FdStore(notify, '/n', null), () =>
      askUnitJob(1, systemdAnswering('restart', 8)),
    );
    expect(decision).toMatchObject({ handOver: true, jobType: 'restart' });
    expect(decision.handOver && decision.store.capacity).toBe(8);
  });

  it('keeps the size $FDSTORE gave (254)', async () => {
    const decision = await decideOnSigterm(new FdStore(notify, '/n', 4), () =>
      askUnitJob(1, systemdAnswering('restart', 8)),
    );
    expect(decision.handOver && decision.store.capacity).toBe(4);
  });

  it('drains on a stop, on no job (a plain kill), and on a restart of a unit without a store', async () => {
    const store = new FdStore(notify, '/n', null);
    expect(await decideOnSigterm(store, () => askUnitJob(1, systemdAnswering('stop', 8)))).toEqual({
      handOver: false,
      why: 'not a restart',
      jobType: 'stop',
    });
    expect(await decideOnSigterm(store, () => askUnitJob(1, systemdAnswering(null, 8)))).toMatchObject({
      handOver: false,
    });
    expect(await decideOnSigterm(store, () => askUnitJob(1, systemdAnswering('restart', 0)))).toMatchObject({
      handOver: false,
      why: 'the unit has no fd store',
    });
  });

  it('drains when systemd cannot be asked, saying why', async () => {
    const noBus: RunBusctl = () => Promise.reject(new Error('busctl call: Failed to connect to bus'));
    expect(await decideOnSigterm(new FdStore(notify, '/n', 8), () => askUnitJob(1, noBus))).toEqual({
      handOver: false,
      why: 'cannot ask systemd: busctl call: Failed to connect to bus',
    });
  });
});
