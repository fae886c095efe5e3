import { describe, expect, it } from 'vitest';

describe('the package entry point (package.json main)', () => {
  it('loads from the build and exposes the parts the CLI is made of', async () => {
    // By URL: the build is what package.json points at, and it is not there when lint typechecks.
    const entry = new URL('../../dist/index.js', import.meta.url).href;
    const api = (await import(entry)) as Record<string, unknown>;
    for (const name of [
      'runDaemon',
      'buildConfig',
      'parseTimeSpan',
      'parseAddress',
      'SpliceEngine',
      'NativeUdpRelay',
      'createMetrics',
      'loadNative',
    ]) {
      expect(typeof api[name], name).toBe('function');
    }
    expect((api.parseTimeSpan as (t: string) => number)('5min 20s')).toBe(320_000);
  });
});
