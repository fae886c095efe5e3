/**
 * An exception thrown by a relay's JavaScript event listener is the listener's bug, and must surface
 * like any other: in process 'uncaughtException', not be swallowed by the thread-safe function that
 * delivered the events (Node 20 only warns, DEP0168). Held for both relays, each in a child process.
 */
import { describe, expect, it } from 'vitest';
import { runChild } from './run-child.js';

// The child prints CAUGHT:<message> from 'uncaughtException', or SWALLOWED if nothing came in time.
const VERDICT = `
process.on('uncaughtException', (err) => {
  console.log('CAUGHT:' + err.message);
  process.exit(0);
});
setTimeout(() => {
  console.log('SWALLOWED');
  process.exit(3);
}, 5000);
`;

describe('a throwing event listener', () => {
  it('reaches uncaughtException from the stream relay', async () => {
    const result = await runChild(
      `${VERDICT}
const backend = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
await new Promise((resolve) => backend.once('listening', resolve));
const fd = native.listenSocket(inet(0), { type: 'stream' });
const engine = new native.RelayEngine(
  { listeners: [{ fd, backend: 0 }], backends: [[inet(backend.address().port)]], connectionsMax: 8,
    pipeSize: 0, connectTimeoutMs: 1000, connectionEvents: false },
  (events) => {
    if (events.some((e) => e.type === 'busy')) throw new Error('stream listener threw');
  },
);
engine.start();
net.connect(native.fdinfo(fd).localPort, '127.0.0.1').on('error', () => {});
`,
      20_000,
    );
    expect(result.stdout.trim()).toBe('CAUGHT:stream listener threw');
    expect(result.code).toBe(0);
  });

  it('reaches uncaughtException from the UDP relay', async () => {
    const result = await runChild(
      `${VERDICT}
const backend = await udpEcho();
const fd = native.listenSocket(inet(0), { type: 'dgram' });
const relay = new native.UdpRelay(
  { fd, backend: [inet(backend.address().port)], sessionTimeoutMs: 10000, sessionsMax: 8 },
  (events) => {
    if (events.some((e) => e.type === 'busy')) throw new Error('udp listener threw');
  },
);
relay.start();
const client = dgram.createSocket('udp4');
client.send('ping', native.fdinfo(fd).localPort, '127.0.0.1');
`,
      20_000,
    );
    expect(result.stdout.trim()).toBe('CAUGHT:udp listener threw');
    expect(result.code).toBe(0);
  });
});
