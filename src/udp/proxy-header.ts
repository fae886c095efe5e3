/**
 * PROXY v2 headers for the `dgram` relay. `dgram` reports no datagram's
 * destination (no IP_PKTINFO), so the destination is the socket's bound
 * address, and with the client fixed per session one header serves a whole
 * session. The native relay builds its own per datagram, to the same rules
 * (native/src/udp-proxy-header.h).
 */
import { isIPv6, type AddressInfo } from 'node:net';
import { encodeV2 } from '../proxy-protocol/encode.js';

/** The largest UDP payload without jumbograms: 65,535 less the IP (IPv4 only) and UDP headers. */
export const UDP_PAYLOAD_MAX = { inet: 65_535 - 20 - 8, inet6: 65_535 - 8 } as const;

export function datagramHeader(client: { address: string; port: number }, local: AddressInfo): Buffer {
  const end = (address: string, port: number) =>
    ({ family: isIPv6(address) ? 'inet6' : 'inet', address, port }) as const;
  return encodeV2({
    transport: 'dgram',
    source: end(client.address, client.port),
    destination: end(local.address, local.port),
  });
}

/** Header and payload as one datagram, or null when together they exceed what `family` carries. */
export function withHeader(header: Buffer, payload: Buffer, family: 'inet' | 'inet6'): Buffer | null {
  if (header.length + payload.length > UDP_PAYLOAD_MAX[family]) return null;
  return Buffer.concat([header, payload]);
}
