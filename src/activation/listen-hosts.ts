/**
 * `--listen` values: `HOST:PORT`, `[V6]:PORT`, `/path`, `@name`, and `udp:` before any of the inet
 * forms for a datagram socket, so running by hand covers what a .socket unit's ListenDatagram= does.
 *
 * A host name is resolved first, because bind(2) takes only addresses, and every address it has is
 * listened on (`localhost:8000` → `[::1]:8000` and `127.0.0.1:8000`), the way a name in a web
 * server's listen directive works.
 */
import { formatSocketAddress, resolveAddress, type Lookup } from '../backend/resolve.js';
import { parseAddress, type AddressSpec } from '../config/address.js';
import { ConfigError, UsageError } from '../errors.js';
import { ipVersion } from '../config/ip-literal.js';

/** A --listen address; `datagram` when it was written `udp:…`. */
export type ListenSpec = AddressSpec & { datagram?: boolean };

export interface ListenTarget {
  /** What to bind: a literal address (its text is the address), or the unix socket as given. */
  spec: ListenSpec;
  /** The --listen value as the user wrote it: the socket's name in logs. */
  name: string;
}

const UDP_PREFIX = 'udp:';

export function parseListen(text: string): ListenSpec {
  if (!text.startsWith(UDP_PREFIX)) return parseAddress(text, '--listen', { allowPortZero: true });
  const spec = parseAddress(text.slice(UDP_PREFIX.length), '--listen', { allowPortZero: true });
  if (spec.kind === 'unix') {
    throw new UsageError('ERR_BAD_ADDRESS', `--listen: '${text}' udp: takes HOST:PORT or [IPv6]:PORT`);
  }
  return { ...spec, text, datagram: true };
}

export async function resolveListenHosts(specs: ListenSpec[], lookup?: Lookup): Promise<ListenTarget[]> {
  const targets: ListenTarget[] = [];
  for (const spec of specs) {
    if (spec.kind === 'unix' || ipVersion(spec.host)) {
      targets.push({ spec, name: spec.text });
      continue;
    }
    let addresses;
    try {
      addresses = await resolveAddress(spec, lookup);
    } catch (err) {
      throw new ConfigError('ERR_LISTEN_RESOLVE', `--listen ${spec.text}: cannot resolve '${spec.host}'`, {
        cause: err,
      });
    }
    for (const address of addresses) {
      if (address.family === 'unix') continue;
      const text = formatSocketAddress(address);
      targets.push({
        spec: { kind: 'inet', host: address.address, port: address.port, text, datagram: spec.datagram },
        name: spec.text,
      });
    }
  }
  return targets;
}
