/**
 * Real sockets on loopback for the UDP relay tests: inherited sockets made by the
 * addon the way systemd would hand them over, echo backends, clients that wait for
 * replies with timeouts, and a python3 peer for unix datagram sockets (Node has none).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { expect } from 'vitest';

import { loadNative, type NativeBinding, type SocketAddress } from '../../src/native/binding.js';
import { NativeUdpRelay, type UdpRelay, type UdpRelayOptions } from '../../src/udp/index.js';

export const native: NativeBinding | null = loadNative().binding;
export const hasPython = spawnSync('python3', ['-c', 'pass']).status === 0;

export function nextEvent<T extends unknown[]>(relay: UdpRelay, event: string, ms: number): Promise<T> {
  return once(relay as unknown as NodeJS.EventEmitter, event, {
    signal: AbortSignal.timeout(ms),
  }) as Promise<T>;
}

/** A bound datagram socket as systemd would pass it, and its port. */
export function inheritedSocket(address: SocketAddress): { fd: number; port: number } {
  const fd = native!.listenSocket(address, { type: 'dgram' });
  return { fd, port: native!.fdinfo(fd).localPort };
}

export interface Reply {
  data: Buffer;
  from: dgram.RemoteInfo;
}

/** A UDP client whose replies queue up until a test takes them. */
export class Client {
  readonly replies: Reply[] = [];

  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (data, from) => {
      this.replies.push({ data, from });
    });
  }

  static async open(type: 'udp4' | 'udp6', address: string): Promise<Client> {
    const socket = dgram.createSocket(type);
    socket.bind(0, address);
    await once(socket, 'listening', { signal: AbortSignal.timeout(2000) });
    return new Client(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(data: Buffer | string, port: number, address: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.send(data, port, address, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** Waits until `count` replies have arrived in all; returns them all. */
  async waitReplies(count: number, ms = 3000): Promise<Reply[]> {
    await expect
      .poll(() => this.replies.length, {
        timeout: ms,
        message: `${count} replies (have ${this.replies.length})`,
      })
      .toBeGreaterThanOrEqual(count);
    return this.replies;
  }

  /** Sends and waits for the reply to this one datagram. */
  async request(data: Buffer | string, port: number, address: string, ms = 3000): Promise<Reply> {
    const before = this.replies.length;
    await this.send(data, port, address);
    return (await this.waitReplies(before + 1, ms))[before]!;
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * An echo backend. `tag` prefixes each reply with the port the datagram came from, so a test can see
 * which upstream socket (session) carried it; `plain` echoes bytes unchanged.
 */
export { echoBackend } from '../helpers/udp.js';

export function makeRelay(options: UdpRelayOptions): UdpRelay {
  return new NativeUdpRelay(native!, options);
}

export function relayOptions(
  fd: number,
  backend: SocketAddress[],
  overrides: Partial<UdpRelayOptions> = {},
): UdpRelayOptions {
  return {
    fd,
    label: 'test',
    backend: { spec: 'test-backend', addresses: backend },
    sessionTimeoutMs: 30_000,
    sessionsMax: 4096,
    ...overrides,
  };
}

/**
 * A unix datagram peer in python3. `echo PATH` serves replies prefixed with `unix:`; `client RELAY
 * BIND COUNT SIZE WAIT` sends COUNT datagrams from BIND (or unbound when BIND is '-') and prints one JSON
 * line with the replies' lengths and first bytes, once all arrived or WAIT seconds passed without one.
 */
const PEER = String.raw`
import json, socket, sys
role = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if role == 'echo':
    s.bind(sys.argv[2]); print('ready', flush=True)
    while True:
        data, peer = s.recvfrom(70000)
        if peer: s.sendto(b'unix:' + data, peer)
else:
    relay, bind, count, size = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    if bind != '-': s.bind(bind)
    s.settimeout(float(sys.argv[6]))
    for i in range(count): s.sendto(bytes([i % 256]) * size, relay)
    replies = []
    try:
        while len(replies) < count:
            data = s.recv(70000); replies.append([len(data), data[:8].decode('latin1')])
    except socket.timeout:
        pass
    print(json.dumps(replies), flush=True)
`;

export async function unixEcho(path: string): Promise<ChildProcess> {
  const child = spawn('python3', ['-c', PEER, 'echo', path], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout!, 'data', { signal: AbortSignal.timeout(20_000) });
  return child;
}

export async function unixClient(
  relay: string,
  bind: string | null,
  count: number,
  size: number,
  waitSeconds = 3,
): Promise<Array<[number, string]>> {
  const args = ['-c', PEER, 'client', relay, bind ?? '-', String(count), String(size), String(waitSeconds)];
  const child = spawn('python3', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await once(child, 'exit', { signal: AbortSignal.timeout(10_000) });
  return JSON.parse(out) as Array<[number, string]>;
}
