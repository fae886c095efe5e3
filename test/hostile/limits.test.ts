/** The option limits read from the system, and what crossing them says. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KEEPALIVE_LIMIT, pipeMaxSize, pipeSizeWithin, spanWithin } from '../../src/config/limits.js';
import { useCleanups } from '../helpers/cleanups.js';
import { tempDir } from '../helpers/net.js';

describe('option limits', () => {
  const cleanups = useCleanups();

  it('reads pipe-max-size, and falls back to the kernel default when it cannot', () => {
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const file = join(dir.path, 'pipe-max-size');
    writeFileSync(file, '65536\n');
    expect(pipeMaxSize(file)).toBe(65536);
    expect(pipeMaxSize(join(dir.path, 'missing'))).toBe(1024 * 1024);
  });

  it('passes values within the limit and infinity, and names flag and limit past it', () => {
    expect(pipeSizeWithin(65536, '64K', '--pipe-size', 65536)).toBe(65536);
    expect(() => pipeSizeWithin(65537, '65537', '--pipe-size', 65536)).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', exitCode: 64 }),
    );
    expect(spanWithin(KEEPALIVE_LIMIT.maxMs, KEEPALIVE_LIMIT, '32767', '--keepalive')).toBe(32_767_000);
    expect(spanWithin(Infinity, KEEPALIVE_LIMIT, 'infinity', '--keepalive')).toBe(Infinity);
    expect(() => spanWithin(32_768_000, KEEPALIVE_LIMIT, '32768', '--keepalive')).toThrow(
      "--keepalive: '32768' is more than 9h 6min 7s (the kernel's TCP keepalive limit); use infinity for never",
    );
  });
});
