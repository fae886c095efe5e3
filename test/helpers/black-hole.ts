/**
 * An address that drops SYNs, on loopback and without a firewall rule: a listener with backlog 0
 * whose accept queue already holds one connection. The kernel drops every further SYN (the accept
 * queue is full), so a connect() to it stays in SYN-SENT until its own timeout — a black hole.
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { native } from './engines.js';
import type { SocketAddress } from '../../src/native/binding.js';

export interface BlackHole {
  address: SocketAddress;
  close(): void;
}

export async function blackHole(family: 'inet' | 'inet6' = 'inet6'): Promise<BlackHole> {
  const host = family === 'inet6' ? '::1' : '127.0.0.1';
  const fd = native.listenSocket({ family, address: host, port: 0 }, { type: 'stream', backlog: 0 });
  const port = native.fdinfo(fd).localPort;
  const filler: Socket = connect({ host, port });
  await once(filler, 'connect', { signal: AbortSignal.timeout(5000) });
  return {
    address: { family, address: host, port },
    close: () => {
      filler.destroy();
      native.close(fd);
    },
  };
}

/** How many sockets on the machine are in SYN-SENT towards `address` (seen with ss). */
export function synSentTo(address: SocketAddress): number {
  if (address.family === 'unix') return 0;
  const host = address.family === 'inet6' ? `[${address.address}]` : address.address;
  const out = execFileSync('ss', ['-tnH', 'state', 'syn-sent', 'dst', `${host}:${address.port}`], {
    encoding: 'utf8',
  });
  return out.split('\n').filter((line) => line.trim() !== '').length;
}
