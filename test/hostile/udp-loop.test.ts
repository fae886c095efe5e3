/**
 * Issue 13 item 5, the CVE-2024-2169 class of UDP loops: a datagram whose source is forged as the
 * backend's address opened a session whose replies went to the backend, whose answers came back as
 * that client's datagrams, and so on forever. A backend that is the proxy itself loops the same way
 * through the upstream sockets. Such sessions must be refused and counted as `would-loop`.
 *
 * The forged datagram is built whole (IP_HDRINCL on a raw socket), so this part needs root.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { useCleanups } from '../helpers/cleanups.js';
import {
  Client,
  echoBackend,
  hasPython,
  inheritedSocket,
  makeRelay,
  native,
  relayOptions,
} from '../udp/helpers.js';
import { has } from '../helpers/requires.js';

const cleanups = useCleanups();
const isRoot = has('root');
const loopback = (port: number) => ({ family: 'inet' as const, address: '127.0.0.1', port });

/** Sends one UDP datagram from 127.0.0.1:fromPort to 127.0.0.1:toPort, whoever owns fromPort. */
function sendForged(fromPort: number, toPort: number, payload: string): void {
  const code = String.raw`
import socket, struct, sys
src, dst, data = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
udp = struct.pack('!HHHH', src, dst, 8 + len(data), 0) + data
# Version/IHL, TOS, total length, id, fragment, TTL, protocol UDP, checksum (the kernel fills it in).
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                 socket.inet_aton('127.0.0.1'), socket.inet_aton('127.0.0.1'))
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
s.sendto(ip + udp, ('127.0.0.1', 0))
`;
  const r = spawnSync('python3', ['-c', code, String(fromPort), String(toPort), payload], { timeout: 5000 });
  if (r.status !== 0) throw new Error(`raw send failed: ${r.stderr?.toString()}`);
}

describe.skipIf(!native || !hasPython)('UDP sessions that would loop', () => {
  it.skipIf(!isRoot)('refuses a datagram forged as coming from the backend, and counts it', async () => {
    const backend = await echoBackend('udp4', '127.0.0.1', 'plain');
    cleanups.push(backend.close);
    const { fd, port } = inheritedSocket(loopback(0));
    const relay = makeRelay(relayOptions(fd, [loopback(backend.port)]));
    cleanups.push(() => relay.destroy());
    relay.start();

    sendForged(backend.port, port, 'loop me');
    // A real client after it: its round trip is time enough for a loop to show, and proves the relay
    // goes on serving.
    const client = await Client.open('udp4', '127.0.0.1');
    cleanups.push(() => client.close());
    for (let i = 0; i < 3; i++) {
      expect((await client.request(`hello ${i}`, port, '127.0.0.1')).data.toString()).toBe(`hello ${i}`);
    }
    // Before the fix the backend got thousands of datagrams by now, and more without end.
    expect(backend.received).toBe(3);
    expect(relay.stats().sessionsTotal).toBe(1);
    expect(relay.stats().dropped['would-loop']).toBe(1);
  });

  it('refuses the sessions a backend that is the relay itself would open', async () => {
    const { fd, port } = inheritedSocket(loopback(0));
    const relay = makeRelay(relayOptions(fd, [loopback(port)]));
    cleanups.push(() => relay.destroy());
    relay.start();
    const client = await Client.open('udp4', '127.0.0.1');
    cleanups.push(() => client.close());

    await client.send('who am I', port, '127.0.0.1');
    // The client's session forwards to the relay's own socket, from its upstream socket: refused.
    await expect.poll(() => relay.stats().dropped['would-loop'], { timeout: 3000 }).toBe(1);
    const stats = relay.stats();
    expect(stats.sessionsTotal).toBe(1);
    expect(stats.datagramsIn).toBe(1);
  });
});
