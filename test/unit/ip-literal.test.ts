import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ipVersion } from '../../src/config/ip-literal.js';

/** Pieces an address is made of, right and wrong; strings are built from them at random. */
const GROUPS = ['0', '1', '0a', 'fff', 'ffff', 'FfFf', '0', '1', 'ab', '', '12345', 'g', ' 1'];
const DOTTED = ['1.2.3.4', '0.0.0.0', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5'];
const SEPARATORS = [':', ':', ':', ':', ':', ':', '::', '::', ':::', '.'];
const ZONES = ['', '', '', '%eth0', '%1', '%', '%a b', '%lo%x', '%en-0.1:2'];

/** A small deterministic generator, so that a failure names the same string on every run. */
function* candidates(count: number): Generator<string> {
  let seed = 0x5eed;
  const pick = <T>(from: T[]): T => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return from[seed % from.length]!;
  };
  for (let i = 0; i < count; i++) {
    if (i % 4 === 1) {
      yield pick(DOTTED) + pick(ZONES);
      continue;
    }
    const parts: string[] = [];
    const groups = 1 + (i % 10);
    for (let g = 0; g < groups; g++) parts.push(pick(GROUPS), g < groups - 1 ? pick(SEPARATORS) : '');
    if (i % 3 === 0) parts.push(pick([':', '::']), pick(DOTTED));
    if (i % 5 === 0) parts.unshift(pick(['', '::', ':']));
    parts.push(pick(ZONES));
    yield parts.join('');
  }
}

describe('ipVersion answers as node:net isIP does', () => {
  it.each([
    ['1.2.3.4', 4],
    ['255.255.255.255', 4],
    ['01.2.3.4', 0],
    ['1.2.3', 0],
    ['1.2.3.4%eth0', 0],
    ['::', 6],
    ['::1', 6],
    ['fe80::1%eth0', 6],
    ['fe80::1%', 0],
    ['::ffff:1.2.3.4', 6],
    ['1:2:3:4:5:6:1.2.3.4', 6],
    ['1:2:3:4:5:6:7:1.2.3.4', 0],
    ['1.2.3.4::', 0],
    ['1:2:3:4:5:6:7:8', 6],
    ['1:2:3:4:5:6:7::', 6],
    ['1:2:3:4:5:6:7:8::', 0],
    ['1::2::3', 0],
    ['[::1]', 0],
    ['localhost', 0],
    ['', 0],
  ])('%j is %i', (text, version) => {
    expect(ipVersion(text)).toBe(version);
    expect(isIP(text)).toBe(version);
  });

  it('on 20000 generated strings, every one the same', () => {
    const differing: string[] = [];
    const seen = { 0: 0, 4: 0, 6: 0 };
    for (const text of candidates(20_000)) {
      const expected = isIP(text);
      seen[expected as 0 | 4 | 6] += 1;
      if (ipVersion(text) !== expected) differing.push(`${JSON.stringify(text)}: isIP ${expected}`);
    }
    expect(differing.slice(0, 10)).toEqual([]);
    // The corpus reaches every answer often enough to mean something.
    expect(Math.min(seen[0], seen[4], seen[6])).toBeGreaterThan(100);
  });
});
