/** The per-source options as the daemon receives them: off unless a limit is given, each bad value named. */
import { describe, expect, it } from 'vitest';
import { buildSourceLimits, parseRate } from '../../src/config/source-limits.js';

const prefixes = { sourcePrefix4: '32', sourcePrefix6: '64' };

describe('per-source limits', () => {
  it('are off by default, also with prefixes given, and with infinity', () => {
    expect(buildSourceLimits(prefixes)).toBeNull();
    expect(buildSourceLimits({ sourcePrefix4: '24', sourcePrefix6: '/48' })).toBeNull();
    expect(
      buildSourceLimits({
        ...prefixes,
        connectionsPerSource: 'infinity',
        connectionRatePerSource: 'infinity',
      }),
    ).toBeNull();
  });

  it('carry the count, the rate as a token bucket and the prefixes', () => {
    expect(buildSourceLimits({ ...prefixes, connectionsPerSource: '16' })).toEqual({
      perSource: 16,
      prefix4: 32,
      prefix6: 64,
    });
    expect(
      buildSourceLimits({ sourcePrefix4: '24', sourcePrefix6: '/56', connectionRatePerSource: '20/1s' }),
    ).toEqual({ rateCount: 20, rateSpanMs: 1000, prefix4: 24, prefix6: 56 });
  });

  it('read N/SPAN with any systemd span, a bare unit meaning one of it', () => {
    expect(parseRate('20/1s')).toEqual({ count: 20, spanMs: 1000 });
    expect(parseRate('600/min')).toEqual({ count: 600, spanMs: 60_000 });
    expect(parseRate('5/1min 30s')).toEqual({ count: 5, spanMs: 90_000 });
    expect(parseRate('1/500ms')).toEqual({ count: 1, spanMs: 500 });
  });

  it.each([
    ['20', "--connection-rate-per-source: '20' is not N/SPAN (examples: 20/1s, 600/1min)"],
    ['0/1s', "--connection-rate-per-source: '0' is not a whole number from 1 to 1000000"],
    ['20/0', "--connection-rate-per-source: '20/0' needs a span of at least 1ms"],
    ['20/infinity', "--connection-rate-per-source: '20/infinity' needs a span of at least 1ms"],
    ['20/30d', "--connection-rate-per-source: '20/30d' is more than 24d"],
    ['20/soon', "--connection-rate-per-source: '20/soon' is not N/SPAN"],
  ])('refuse the rate %s with one line naming the flag', (text, message) => {
    expect(() => parseRate(text)).toThrow(message);
    expect(() => parseRate(text)).toThrow(expect.objectContaining({ exitCode: 64 }));
  });

  it.each([
    [
      { ...prefixes, connectionsPerSource: '0' },
      "--connections-per-source: '0' is not a whole number from 1",
    ],
    [{ ...prefixes, connectionsPerSource: '-3' }, "--connections-per-source: '-3'"],
    [
      { sourcePrefix4: '33', sourcePrefix6: '64' },
      "--source-prefix4: '33' is not a whole number from 0 to 32",
    ],
    [
      { sourcePrefix4: '32', sourcePrefix6: '129' },
      "--source-prefix6: '129' is not a whole number from 0 to 128",
    ],
  ])('refuse %o', (raw, message) => {
    expect(() => buildSourceLimits(raw)).toThrow(message);
  });
});
