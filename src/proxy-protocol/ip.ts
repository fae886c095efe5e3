/**
 * IP addresses as the PROXY protocol carries them: 4 or 16 bytes in network
 * order for v2, and one canonical text form for v1 (RFC 5952 for IPv6, so a
 * backend logs `2001:db8::1` however the kernel or a test spelled it).
 *
 * A dual-stack IPv6 socket sees IPv4 clients as `::ffff:a.b.c.d`. Those are
 * IPv4 clients; the encoder unmaps them when both ends are mapped, and that
 * needs the 16 bytes, not the text, to decide.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** Node reports a link-local peer as `fe80::1%eth0`; the zone means nothing to the backend. */
function withoutZone(address: string): string {
  const percent = address.indexOf('%');
  return percent < 0 ? address : address.slice(0, percent);
}

export function ipv4Bytes(address: string): Buffer {
  if (!isIPv4(address)) throw new TypeError(`not an IPv4 address: '${address}'`);
  return Buffer.from(address.split('.').map(Number));
}

export function ipv6Bytes(text: string): Buffer {
  let address = withoutZone(text);
  if (!isIPv6(address)) throw new TypeError(`not an IPv6 address: '${text}'`);
  const lastColon = address.lastIndexOf(':');
  if (address.includes('.', lastColon)) {
    // An embedded IPv4 address stands for the last two groups: rewrite it as those groups.
    const v4 = ipv4Bytes(address.slice(lastColon + 1));
    address = `${address.slice(0, lastColon + 1)}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`;
  }
  const parse = (part: string): number[] =>
    part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16));
  const gap = address.indexOf('::');
  let words: number[];
  if (gap >= 0) {
    const head = parse(address.slice(0, gap));
    const tail = parse(address.slice(gap + 2));
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    words = parse(address);
  }
  const bytes = Buffer.alloc(16);
  words.forEach((word, i) => bytes.writeUInt16BE(word, i * 2));
  return bytes;
}

/** The IPv4 address inside `::ffff:a.b.c.d`, or null for any other IPv6 address. */
export function unmappedIPv4(bytes: Buffer): Buffer | null {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return null;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return null;
  return bytes.subarray(12, 16);
}

export function mappedIPv6(v4: Buffer): Buffer {
  return Buffer.concat([Buffer.alloc(10), Buffer.from([0xff, 0xff]), v4]);
}

export function formatIPv4(bytes: Buffer): string {
  return [...bytes.subarray(0, 4)].join('.');
}

/** RFC 5952: lower case, no leading zeros, the longest run (first if tied) of two or more zero groups as `::`. */
export function formatIPv6(bytes: Buffer): string {
  const v4 = unmappedIPv4(bytes);
  if (v4) return `::ffff:${formatIPv4(v4)}`;
  const words = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestStart < 0) return hex(words);
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLength))}`;
}
