/**
 * Turns a backend spec into the socket addresses the engine tries in order.
 * systemd-socket-proxyd tries only the first result; we keep all of them, the
 * families interleaved as RFC 8305 asks, so that the engine, which races them
 * (native/src/stream/connect.cc), falls back from a dead ::1 to 127.0.0.1 in a
 * fraction of a second. A name is resolved at start and again later
 * (./re-resolve.ts).
 */
import { lookup } from 'node:dns/promises';
import type { AddressSpec } from '../config/address.js';
import { ConfigError } from '../errors.js';
import type { SocketAddress } from '../native/binding.js';
import { ipVersion } from '../config/ip-literal.js';

export type Lookup = (host: string) => Promise<Array<{ address: string; family: number }>>;

/** A backend as the engines take it (src/engine/types.ts): what the user wrote and where it is. */
export interface EngineBackend {
  /** As the user wrote it, for logs. */
  spec: string;
  /** Resolved addresses, raced in order (Happy Eyeballs). */
  addresses: SocketAddress[];
  /** For a name: resolves it again (src/backend/re-resolve.ts says when); throws when it cannot. */
  refresh?: () => Promise<SocketAddress[]>;
}

const systemLookup: Lookup = (host) => lookup(host, { all: true, order: 'verbatim' });

export async function resolveAddress(
  spec: AddressSpec,
  resolve: Lookup = systemLookup,
): Promise<SocketAddress[]> {
  if (spec.kind === 'unix') return [{ family: 'unix', path: spec.path, abstract: spec.abstract }];
  const literal = ipVersion(spec.host);
  if (literal) return [{ family: literal === 6 ? 'inet6' : 'inet', address: spec.host, port: spec.port }];
  let results: Array<{ address: string; family: number }>;
  try {
    results = await resolve(spec.host);
  } catch (err) {
    throw new ConfigError('ERR_BACKEND_RESOLVE', `backend ${spec.text}: cannot resolve '${spec.host}'`, {
      cause: err,
    });
  }
  const seen = new Set<string>();
  const addresses: SocketAddress[] = [];
  for (const { address, family } of results) {
    if (seen.has(address)) continue;
    seen.add(address);
    addresses.push({ family: family === 6 ? 'inet6' : 'inet', address, port: spec.port });
  }
  if (addresses.length === 0) {
    throw new ConfigError('ERR_BACKEND_RESOLVE', `backend ${spec.text}: '${spec.host}' has no addresses`);
  }
  return interleaveFamilies(addresses);
}

/** The resolver's order, but alternating families from its first: [6a, 6b, 4a] becomes [6a, 4a, 6b]. */
export function interleaveFamilies(addresses: SocketAddress[]): SocketAddress[] {
  const first = addresses[0]?.family;
  const same = addresses.filter((a) => a.family === first);
  const other = addresses.filter((a) => a.family !== first);
  const out: SocketAddress[] = [];
  for (let i = 0; i < Math.max(same.length, other.length); i++) {
    if (i < same.length) out.push(same[i]!);
    if (i < other.length) out.push(other[i]!);
  }
  return out;
}

/** A backend for the engine: its addresses now and, for a name, how to resolve it again. */
export async function resolveBackend(
  spec: AddressSpec,
  resolve: Lookup = systemLookup,
): Promise<EngineBackend> {
  const addresses = await resolveAddress(spec, resolve);
  if (spec.kind === 'unix' || ipVersion(spec.host)) return { spec: spec.text, addresses };
  return { spec: spec.text, addresses, refresh: () => resolveAddress(spec, resolve) };
}

/** For logs: 127.0.0.1:80, [::1]:80, /run/x.sock, @name. */
export function formatSocketAddress(address: SocketAddress): string {
  if (address.family === 'unix') return (address.abstract ? '@' : '') + address.path;
  return address.family === 'inet6'
    ? `[${address.address}]:${address.port}`
    : `${address.address}:${address.port}`;
}
