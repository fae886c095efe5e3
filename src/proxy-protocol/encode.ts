/**
 * PROXY protocol headers (haproxy's doc/proxy-protocol.txt), so that a backend
 * behind sockrelay sees the real client instead of sockrelay's own address.
 *
 * A proxy that accepts a connection and opens another one to the backend hides
 * the client: the backend's getpeername() says 127.0.0.1. The PROXY protocol
 * fixes that with a header the proxy writes on the backend connection before
 * any byte of the client's: the backend, configured to expect it (nginx
 * `listen … proxy_protocol`, haproxy `accept-proxy`), reads the header, takes
 * the addresses from it, and hands the rest to the application untouched. It
 * must come first and exactly once — a backend that expects it treats anything
 * else as an attack and closes — and a backend that does not expect it sees
 * garbage, which is why it is opt-in per route.
 *
 * Version 1 is one line of text, at most 107 bytes with its CRLF:
 *   `PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n` (source, then destination)
 *   `PROXY TCP6 2001:db8::1 2001:db8::2 56324 443\r\n`
 *   `PROXY UNKNOWN\r\n` for anything else (unix sockets, unknown addresses);
 * it names TCP only, so it has no form for datagrams at all.
 *
 * Version 2 is binary: the 12-byte signature `\r\n\r\n\0\r\nQUIT\n`, a byte of
 * version and command (0x21 PROXY; 0x20 LOCAL: "no client, use the real
 * endpoints"), a byte of family and transport (0x11 TCP4, 0x12 UDP4, 0x21 TCP6,
 * 0x22 UDP6, 0x31 unix stream, 0x32 unix datagram, 0x00 unspecified), a
 * big-endian length, then the addresses: source address, destination address,
 * source port, destination port, all in network order (12 bytes for IPv4, 36
 * for IPv6), or for unix two 108-byte `sun_path` fields, 216 bytes.
 * UDP has no connection to put a header in front of, so a datagram relay sends
 * one on every datagram; only v2 can describe them.
 *
 * Corners, decided here once for every relay:
 * - IPv4 clients of a dual-stack IPv6 socket arrive as `::ffff:a.b.c.d` on
 *   both ends; they are sent as IPv4 (TCP4, 0x11/0x12), which is what they are.
 *   An IPv4 end paired with a true IPv6 end (never seen from one socket) is
 *   mapped into IPv6, as haproxy does, since both must be one family.
 * - IPv6 zone ids (`fe80::1%eth0`) are dropped: neither form can carry one.
 * - unix sockets: v1 `PROXY UNKNOWN`; v2 PROXY with the unix family and the
 *   raw `sun_path` bytes (an abstract name keeps its leading NUL; an unnamed
 *   client, the usual case, is 108 zero bytes).
 * - unknown addresses (a vsock listener, a peer already gone): v1
 *   `PROXY UNKNOWN`, v2 LOCAL with the unspecified family and no addresses,
 *   as haproxy sends them. The backend then uses the connection's own ends.
 * - no TLVs: the spec makes them optional and we have nothing to add to the
 *   addresses.
 */
import type { SocketAddress } from '../native/binding.js';
import { formatIPv4, formatIPv6, ipv4Bytes, ipv6Bytes, mappedIPv6, unmappedIPv4 } from './ip.js';

export type ProxyProtocolVersion = 'v1' | 'v2';
export const PROXY_PROTOCOL_VERSIONS: readonly ProxyProtocolVersion[] = ['v1', 'v2'];

export type ProxyTransport = 'stream' | 'dgram';

/** One proxied connection (or datagram), as its header describes it. */
export interface ProxiedFlow {
  transport: ProxyTransport;
  /** The client: getpeername() of the accepted socket, or the datagram's sender; null when unknown. */
  source: SocketAddress | null;
  /** Where the client connected or sent to: getsockname(), or the datagram's IP_PKTINFO destination. */
  destination: SocketAddress | null;
}

export const PROXY_V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
/** The longest v1 line the spec allows, CRLF included. */
export const PROXY_V1_MAX_LENGTH = 107;
/** sun_path: each unix address in a v2 header is this long, NUL-padded. */
export const PROXY_V2_UNIX_ADDRESS_LENGTH = 108;

const CMD_LOCAL = 0x20;
const CMD_PROXY = 0x21;
const FAMILY = { unspec: 0x00, inet: 0x10, inet6: 0x20, unix: 0x30 } as const;
const TRANSPORT: Record<ProxyTransport, number> = { stream: 0x01, dgram: 0x02 };

type Ends =
  | { family: 'inet' | 'inet6'; src: Buffer; dst: Buffer; srcPort: number; dstPort: number }
  | { family: 'unix'; src: Buffer; dst: Buffer }
  | { family: 'unspec' };

function ipBytes(a: Extract<SocketAddress, { family: 'inet' | 'inet6' }>): Buffer {
  return a.family === 'inet' ? ipv4Bytes(a.address) : ipv6Bytes(a.address);
}

function sunPath(a: SocketAddress | null): Buffer {
  const field = Buffer.alloc(PROXY_V2_UNIX_ADDRESS_LENGTH);
  if (a === null || a.family !== 'unix' || a.path === '') return field;
  const name = Buffer.from(a.path);
  const offset = a.abstract ? 1 : 0;
  if (offset + name.length > field.length) throw new TypeError(`unix address too long: '${a.path}'`);
  name.copy(field, offset);
  return field;
}

function port(p: number): number {
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new TypeError(`not a port: ${p}`);
  return p;
}

/** Both ends in one family, or unspecified when the header cannot describe them. */
function endsOf({ source, destination }: ProxiedFlow): Ends {
  if (source?.family === 'unix' || destination?.family === 'unix') {
    const other = source?.family === 'unix' ? destination : source;
    if (other !== null && other.family !== 'unix') return { family: 'unspec' };
    return { family: 'unix', src: sunPath(source), dst: sunPath(destination) };
  }
  if (source === null || destination === null) return { family: 'unspec' };
  let src = ipBytes(source);
  let dst = ipBytes(destination);
  if (src.length === 16 && dst.length === 16) {
    const [src4, dst4] = [unmappedIPv4(src), unmappedIPv4(dst)];
    if (src4 && dst4) [src, dst] = [src4, dst4];
  } else if (src.length !== dst.length) {
    const src4 = src.length === 16 ? unmappedIPv4(src) : src;
    const dst4 = dst.length === 16 ? unmappedIPv4(dst) : dst;
    if (src4 && dst4) [src, dst] = [src4, dst4];
    else [src, dst] = [src.length === 4 ? mappedIPv6(src) : src, dst.length === 4 ? mappedIPv6(dst) : dst];
  }
  return {
    family: src.length === 4 ? 'inet' : 'inet6',
    src,
    dst,
    srcPort: port(source.port),
    dstPort: port(destination.port),
  };
}

/** The v1 line. Throws a TypeError for datagrams, which v1 cannot describe. */
export function encodeV1(flow: ProxiedFlow): Buffer {
  if (flow.transport !== 'stream') throw new TypeError('PROXY protocol v1 describes TCP only; use v2');
  const ends = endsOf(flow);
  if (ends.family !== 'inet' && ends.family !== 'inet6') return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const [name, format] = ends.family === 'inet' ? ['TCP4', formatIPv4] : ['TCP6', formatIPv6];
  const line = `PROXY ${name} ${format(ends.src)} ${format(ends.dst)} ${ends.srcPort} ${ends.dstPort}\r\n`;
  return Buffer.from(line, 'latin1');
}

/** The v2 header: PROXY with the flow's addresses, or LOCAL when they are unknown. */
export function encodeV2(flow: ProxiedFlow): Buffer {
  const ends = endsOf(flow);
  let body: Buffer;
  switch (ends.family) {
    case 'unspec':
      body = Buffer.alloc(0);
      break;
    case 'unix':
      body = Buffer.concat([ends.src, ends.dst]);
      break;
    default: {
      const ports = Buffer.alloc(4);
      ports.writeUInt16BE(ends.srcPort, 0);
      ports.writeUInt16BE(ends.dstPort, 2);
      body = Buffer.concat([ends.src, ends.dst, ports]);
    }
  }
  const head = Buffer.alloc(16);
  PROXY_V2_SIGNATURE.copy(head, 0);
  head[12] = ends.family === 'unspec' ? CMD_LOCAL : CMD_PROXY;
  head[13] = ends.family === 'unspec' ? FAMILY.unspec : FAMILY[ends.family] | TRANSPORT[flow.transport];
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}

export function encodeHeader(version: ProxyProtocolVersion, flow: ProxiedFlow): Buffer {
  return version === 'v1' ? encodeV1(flow) : encodeV2(flow);
}
