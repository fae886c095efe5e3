/**
 * `--listen` values as configuration: `HOST:PORT`, `[V6]:PORT`, `/path`, `@name`, and `udp:` before
 * any of the inet forms for a datagram socket, so running by hand covers what a .socket unit's
 * ListenDatagram= does. Resolving their host names is activation's (src/activation/listen-hosts.ts).
 */
import { UsageError } from '../errors.js';
import { parseAddress, type AddressSpec } from './address.js';

/** A --listen address; `datagram` when it was written `udp:…`. */
export type ListenSpec = AddressSpec & { datagram?: boolean };

const UDP_PREFIX = 'udp:';

export function parseListen(text: string): ListenSpec {
  if (!text.startsWith(UDP_PREFIX)) return parseAddress(text, '--listen', { allowPortZero: true });
  const spec = parseAddress(text.slice(UDP_PREFIX.length), '--listen', { allowPortZero: true });
  if (spec.kind === 'unix') {
    throw new UsageError('ERR_BAD_ADDRESS', `--listen: '${text}' udp: takes HOST:PORT or [IPv6]:PORT`);
  }
  return { ...spec, text, datagram: true };
}
