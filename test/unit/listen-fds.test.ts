import { describe, expect, it } from 'vitest';
import { parseListenFds, unsetListenEnv } from '../../src/activation/listen-fds.js';

const self = { pid: 4242, pidfdId: '77' };

describe('parseListenFds (sd_listen_fds(3))', () => {
  it('is not activated without LISTEN_PID', () => {
    expect(parseListenFds({ LISTEN_FDS: '2' }, self)).toEqual({ ours: false, reason: 'not-activated' });
  });

  it('ignores fds meant for another process', () => {
    expect(parseListenFds({ LISTEN_PID: '1', LISTEN_FDS: '1' }, self)).toEqual({
      ours: false,
      reason: 'pid-mismatch',
    });
  });

  it('ignores fds whose LISTEN_PIDFDID is not our pidfd (pid reuse)', () => {
    const env = { LISTEN_PID: '4242', LISTEN_PIDFDID: '78', LISTEN_FDS: '1' };
    expect(parseListenFds(env, self)).toEqual({ ours: false, reason: 'pidfd-mismatch' });
  });

  it('accepts a matching LISTEN_PIDFDID, and skips the check when our pidfd id is unknown', () => {
    expect(parseListenFds({ LISTEN_PID: '4242', LISTEN_PIDFDID: '77', LISTEN_FDS: '1' }, self)).toMatchObject(
      { ours: true },
    );
    const noPidfs = { pid: 4242, pidfdId: null };
    expect(
      parseListenFds({ LISTEN_PID: '4242', LISTEN_PIDFDID: '5', LISTEN_FDS: '1' }, noPidfs),
    ).toMatchObject({ ours: true });
  });

  it('compares pidfd ids beyond 2^53 exactly', () => {
    const big = { pid: 1, pidfdId: '18446744073709551615' };
    expect(
      parseListenFds({ LISTEN_PID: '1', LISTEN_PIDFDID: '18446744073709551614', LISTEN_FDS: '1' }, big),
    ).toMatchObject({
      ours: false,
    });
  });

  it('numbers fds from 3 and names them from LISTEN_FDNAMES', () => {
    const env = { LISTEN_PID: '4242', LISTEN_FDS: '3', LISTEN_FDNAMES: 'web:admin:' };
    expect(parseListenFds(env, self)).toEqual({
      ours: true,
      fds: [
        { fd: 3, name: 'web' },
        { fd: 4, name: 'admin' },
        { fd: 5, name: 'unknown' },
      ],
    });
  });

  it("names every fd 'unknown' without LISTEN_FDNAMES", () => {
    expect(parseListenFds({ LISTEN_PID: '4242', LISTEN_FDS: '2' }, self)).toEqual({
      ours: true,
      fds: [
        { fd: 3, name: 'unknown' },
        { fd: 4, name: 'unknown' },
      ],
    });
  });

  it.each([
    [{ LISTEN_PID: 'abc', LISTEN_FDS: '1' }, /LISTEN_PID='abc'/],
    [{ LISTEN_PID: '4242', LISTEN_FDS: '-1' }, /LISTEN_FDS='-1'/],
    [{ LISTEN_PID: '4242', LISTEN_FDS: '1x' }, /LISTEN_FDS='1x'/],
    [{ LISTEN_PID: '4242', LISTEN_FDS: '2', LISTEN_FDNAMES: 'one' }, /1 name\(s\) but LISTEN_FDS=2/],
    [{ LISTEN_PID: '4242', LISTEN_PIDFDID: 'x', LISTEN_FDS: '1' }, /LISTEN_PIDFDID='x'/],
  ])('rejects malformed variables %j with a config error', (env, why) => {
    expect(() => parseListenFds(env, self)).toThrow(why);
    expect(() => parseListenFds(env, self)).toThrow(
      expect.objectContaining({ code: 'ERR_LISTEN_ENV', exitCode: 78 }),
    );
  });

  it('unsets all four variables so children never inherit them', () => {
    const env: NodeJS.ProcessEnv = {
      LISTEN_PID: '1',
      LISTEN_PIDFDID: '2',
      LISTEN_FDS: '3',
      LISTEN_FDNAMES: 'a',
      HOME: '/root',
    };
    unsetListenEnv(env);
    expect(env).toEqual({ HOME: '/root' });
  });
});
