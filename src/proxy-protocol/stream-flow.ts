/**
 * The two ends of a connected stream socket, as a PROXY header names them: the
 * client (getpeername) and the address it connected to (getsockname), read
 * through the addon's fdinfo, which formats them as `1.2.3.4:5`, `[::1]:5`,
 * `/path`, `@abstract` or '' (an unnamed unix client, sent as 108 zero bytes).
 */
import type { FdInfo, SocketAddress } from '../native/binding.js';
import type { ProxiedFlow } from './encode.js';

function endpoint(family: FdInfo['family'], text: string): SocketAddress | null {
  if (family === 'unix') {
    return text.startsWith('@')
      ? { family: 'unix', path: text.slice(1), abstract: true }
      : { family: 'unix', path: text, abstract: false };
  }
  if (family !== 'inet' && family !== 'inet6') return null;
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text);
  return match ? { family, address: match[1]!, port: Number(match[2]) } : null;
}

export function streamFlow(info: Pick<FdInfo, 'family' | 'localAddress' | 'peerAddress'>): ProxiedFlow {
  return {
    transport: 'stream',
    source: endpoint(info.family, info.peerAddress),
    destination: endpoint(info.family, info.localAddress),
  };
}
