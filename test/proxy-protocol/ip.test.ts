import { describe, expect, it } from 'vitest';
import { formatIPv6, ipv6Bytes, unmappedIPv4 } from '../../src/proxy-protocol/ip.js';

describe('IPv6 text and bytes', () => {
  const cases: Array<[string, string]> = [
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['2001:DB8::A:0:0:1', '20010db800000000000a000000000001'],
    ['::ffff:1.2.3.4', '00000000000000000000ffff01020304'],
    ['fe80::1%lo', 'fe800000000000000000000000000001'],
  ];
  it.each(cases)('%s', (text, bytes) => {
    expect(ipv6Bytes(text).toString('hex')).toBe(bytes);
  });

  it('formats per RFC 5952', () => {
    const f = (text: string): string => formatIPv6(ipv6Bytes(text));
    expect(f('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
    expect(f('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    expect(f('2001:0:0:1:0:0:0:1')).toBe('2001:0:0:1::1');
    expect(f('0:0:0:0:0:0:0:0')).toBe('::');
    expect(f('::ffff:10.0.0.1')).toBe('::ffff:10.0.0.1');
  });

  it('unmaps only ::ffff:0:0/96', () => {
    expect(unmappedIPv4(ipv6Bytes('::ffff:10.0.0.1'))?.toString('hex')).toBe('0a000001');
    expect(unmappedIPv4(ipv6Bytes('::10.0.0.1'))).toBeNull();
    expect(unmappedIPv4(ipv6Bytes('64:ff9b::10.0.0.1'))).toBeNull();
  });
});
