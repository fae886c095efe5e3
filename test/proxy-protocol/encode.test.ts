/**
 * Byte-exact PROXY protocol headers, written out by hand from haproxy's
 * proxy-protocol.txt rather than computed, so the encoder is checked against
 * the spec and not against itself.
 */
import { describe, expect, it } from 'vitest';
import { encodeHeader, encodeV1, encodeV2, type ProxiedFlow } from '../../src/proxy-protocol/index.js';
import type { SocketAddress } from '../../src/native/binding.js';

const v4 = (address: string, port: number): SocketAddress => ({ family: 'inet', address, port });
const v6 = (address: string, port: number): SocketAddress => ({ family: 'inet6', address, port });
const unix = (path: string, abstract = false): SocketAddress => ({ family: 'unix', path, abstract });
const tcp = (source: SocketAddress | null, destination: SocketAddress | null): ProxiedFlow => ({
  transport: 'stream',
  source,
  destination,
});
const udp = (source: SocketAddress | null, destination: SocketAddress | null): ProxiedFlow => ({
  transport: 'dgram',
  source,
  destination,
});

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const SIG = '0d0a0d0a000d0a515549540a';
/** 108 bytes: the given bytes, NUL-padded. */
const sun = (bytes: string): string => Buffer.from(hex(bytes)).toString('hex').padEnd(216, '0');
const ascii = (text: string): string => Buffer.from(text, 'latin1').toString('hex');

describe('PROXY protocol v1', () => {
  it('TCP over IPv4', () => {
    expect(encodeV1(tcp(v4('192.0.2.1', 56324), v4('198.51.100.2', 443))).toString('latin1')).toBe(
      'PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n',
    );
  });

  it('TCP over IPv6, in the canonical text form whatever the input spelling', () => {
    const flow = tcp(v6('2001:0DB8:0:0:0:0:0:1', 56324), v6('2001:db8::2', 443));
    expect(encodeV1(flow).toString('latin1')).toBe('PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n');
    const loopback = tcp(v6('::1', 1), v6('::1', 65535));
    expect(encodeV1(loopback).toString('latin1')).toBe('PROXY TCP6 ::1 ::1 1 65535\r\n');
  });

  it('IPv4 clients of a dual-stack socket are TCP4', () => {
    const flow = tcp(v6('::ffff:127.0.0.1', 40000), v6('::ffff:127.0.0.2', 80));
    expect(encodeV1(flow).toString('latin1')).toBe('PROXY TCP4 127.0.0.1 127.0.0.2 40000 80\r\n');
  });

  it('drops an IPv6 zone id, which the line cannot carry', () => {
    const flow = tcp(v6('fe80::1%eth0', 5000), v6('fe80::2%eth0', 80));
    expect(encodeV1(flow).toString('latin1')).toBe('PROXY TCP6 fe80::1 fe80::2 5000 80\r\n');
  });

  it('an IPv4 end paired with an IPv6 end is mapped into IPv6', () => {
    const flow = tcp(v4('192.0.2.1', 5000), v6('2001:db8::2', 80));
    expect(encodeV1(flow).toString('latin1')).toBe('PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 5000 80\r\n');
  });

  it('unix sockets and unknown addresses are UNKNOWN', () => {
    expect(encodeV1(tcp(unix(''), unix('/run/app.sock'))).toString('latin1')).toBe('PROXY UNKNOWN\r\n');
    expect(encodeV1(tcp(null, null)).toString('latin1')).toBe('PROXY UNKNOWN\r\n');
    expect(encodeV1(tcp(v4('192.0.2.1', 1), null)).toString('latin1')).toBe('PROXY UNKNOWN\r\n');
  });

  it('the longest line fits the 107 bytes the spec allows', () => {
    const max = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe';
    const line = encodeV1(tcp(v6(max, 65535), v6(max, 65535)));
    expect(line.length).toBe(104);
    expect(line.length).toBeLessThanOrEqual(107);
  });

  it('has no form for datagrams', () => {
    expect(() => encodeV1(udp(v4('192.0.2.1', 1), v4('192.0.2.2', 2)))).toThrow(TypeError);
  });
});

describe('PROXY protocol v2', () => {
  it('TCP over IPv4', () => {
    const header = encodeV2(tcp(v4('192.0.2.1', 56324), v4('198.51.100.2', 443)));
    expect(header.toString('hex')).toBe(hex(`${SIG} 21 11 000c c0000201 c6336402 dc04 01bb`).toString('hex'));
  });

  it('UDP over IPv4', () => {
    const header = encodeV2(udp(v4('127.0.0.1', 5353), v4('127.0.0.53', 53)));
    expect(header.toString('hex')).toBe(hex(`${SIG} 21 12 000c 7f000001 7f000035 14e9 0035`).toString('hex'));
  });

  it('TCP and UDP over IPv6', () => {
    const addresses = '20010db8000000000000000000000001 20010db8000000000000000000000002 dc04 01bb'.replace(
      / /g,
      '',
    );
    expect(encodeV2(tcp(v6('2001:db8::1', 56324), v6('2001:db8::2', 443))).toString('hex')).toBe(
      hex(`${SIG} 21 21 0024 ${addresses}`).toString('hex'),
    );
    expect(encodeV2(udp(v6('2001:db8::1', 56324), v6('2001:db8::2', 443))).toString('hex')).toBe(
      hex(`${SIG} 21 22 0024 ${addresses}`).toString('hex'),
    );
  });

  it('IPv4 clients of a dual-stack socket are sent as IPv4', () => {
    const header = encodeV2(udp(v6('::ffff:127.0.0.1', 40000), v6('::ffff:127.0.0.1', 53)));
    expect(header.toString('hex')).toBe(hex(`${SIG} 21 12 000c 7f000001 7f000001 9c40 0035`).toString('hex'));
  });

  it('an IPv4-compatible embedded form parses to the same bytes', () => {
    const header = encodeV2(tcp(v6('1:2:3:4:5:6:1.2.3.4', 1), v6('::1.2.3.4', 2)));
    expect(header.toString('hex')).toBe(
      hex(
        `${SIG} 21 21 0024 00010002000300040005000601020304 00000000000000000000000001020304 0001 0002`,
      ).toString('hex'),
    );
  });

  it('unix stream: two 108-byte sun_path fields, an unnamed client as zeros', () => {
    const header = encodeV2(tcp(unix(''), unix('/run/app.sock')));
    expect(header.length).toBe(16 + 216);
    expect(header.toString('hex')).toBe(`${SIG}2131` + '00d8' + sun('') + sun(ascii('/run/app.sock')));
  });

  it('unix datagram with abstract names keeps their leading NUL', () => {
    const header = encodeV2(udp(unix('client', true), unix('relay', true)));
    expect(header.toString('hex')).toBe(
      `${SIG}2132` + '00d8' + sun(`00${ascii('client')}`) + sun(`00${ascii('relay')}`),
    );
  });

  it('unknown addresses are LOCAL with no address block', () => {
    expect(encodeV2(tcp(null, null)).toString('hex')).toBe(`${SIG}20000000`);
    expect(encodeV2(tcp(v4('192.0.2.1', 1), unix('/x'))).toString('hex')).toBe(`${SIG}20000000`);
  });

  it('encodeHeader picks the version', () => {
    const flow = tcp(v4('192.0.2.1', 1), v4('192.0.2.2', 2));
    expect(encodeHeader('v1', flow)).toEqual(encodeV1(flow));
    expect(encodeHeader('v2', flow)).toEqual(encodeV2(flow));
  });

  it('rejects what no socket could have given', () => {
    expect(() => encodeV2(tcp(v4('300.0.0.1', 1), v4('192.0.2.2', 2)))).toThrow(TypeError);
    expect(() => encodeV2(tcp(v4('192.0.2.1', 70000), v4('192.0.2.2', 2)))).toThrow(TypeError);
    expect(() => encodeV2(tcp(unix('x'.repeat(108), true), null))).toThrow(TypeError);
  });
});
