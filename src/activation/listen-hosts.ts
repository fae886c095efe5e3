/**
 * `--listen` addresses (parsed by src/config/listen.ts) made bindable. A host name is resolved first, because bind(2) takes only addresses, and every address it has is
 * listened on (`localhost:8000` → `[::1]:8000` and `127.0.0.1:8000`), the way a name in a web
 * server's listen directive works.
 */
import { formatSocketAddress, resolveAddress, type Lookup } from '../backend/resolve.js';
import type { ListenSpec } from '../config/listen.js';
import { ConfigError } from '../errors.js';
import { ipVersion } from '../config/ip-literal.js';

export type { ListenSpec } from '../config/listen.js';

export interface ListenTarget {
  /** What to bind: a literal address (its text is the address), or the unix socket as given. */
  spec: ListenSpec;
  /** The --listen value as the user wrote it: the socket's name in logs. */
  name: string;
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
