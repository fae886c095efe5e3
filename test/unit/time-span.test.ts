import { describe, expect, it } from 'vitest';
import { formatTimeSpan, parseTimeSpan } from '../../src/config/time-span.js';

describe('parseTimeSpan (systemd.time(7) spans)', () => {
  it.each([
    ['90', 90_000],
    ['500ms', 500],
    ['5min 20s', 320_000],
    ['5min20s', 320_000],
    ['1h30m', 5_400_000],
    ['2.5s', 2500],
    ['1us', 1],
    ['0', 0],
    ['1 day', 86_400_000],
    ['2weeks', 1_209_600_000],
    ['  10s  ', 10_000],
  ])('reads %j as %d ms', (text, ms) => {
    expect(parseTimeSpan(text)).toBe(ms);
  });

  it('reads infinity as Infinity', () => {
    expect(parseTimeSpan('infinity')).toBe(Infinity);
  });

  it.each(['', '5x', '-1s', 's', '1s garbage', '1..2s', 'infinityx'])(
    'rejects %j with a usage error',
    (text) => {
      expect(() => parseTimeSpan(text, '--exit-idle-time')).toThrow(
        expect.objectContaining({ code: 'ERR_BAD_TIME_SPAN', exitCode: 64 }),
      );
    },
  );

  it('names the flag in the message', () => {
    expect(() => parseTimeSpan('soon', '--exit-idle-time')).toThrow(/^--exit-idle-time: 'soon'/);
  });

  it('formats spans back for logs', () => {
    expect(formatTimeSpan(320_000)).toBe('5min 20s');
    expect(formatTimeSpan(1500)).toBe('1s 500ms');
    expect(formatTimeSpan(Infinity)).toBe('infinity');
    expect(formatTimeSpan(0)).toBe('0');
  });
});
