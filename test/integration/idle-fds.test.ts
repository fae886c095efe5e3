/**
 * What an idle relayed connection costs the proxy in fds, counted in /proc/PID/fd of the built CLI
 * under systemd-socket-activate: its two sockets. Splice pipes belong to bytes in flight
 * (native/src/stream/pipe-pool.h); a proxy that held two per connection took six fds each.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { dial, echo, freePort, openFdCount, startServer } from '../helpers/net.js';
import { underSocketActivate } from '../helpers/proxy.js';

const CONNECTIONS = 100;
/** Empty pipes the relay thread keeps for its next busy flows (kPipesKept), two fds each. */
const POOL_FDS = 2 * 8;

describe('an idle relayed connection', () => {
  const cleanups = useCleanups();

  async function opened(port: number, tag: string): Promise<Socket> {
    const socket = dial(port);
    cleanups.push(() => socket.destroy());
    socket.write(tag);
    const [data] = (await once(socket, 'data', { signal: AbortSignal.timeout(10_000) })) as [Buffer];
    expect(data.toString()).toBe(tag);
    return socket;
  }

  it(`holds two fds in the proxy: ${CONNECTIONS} idle connections`, async () => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const port = await freePort();
    const proxy = await underSocketActivate(
      ['-l', `127.0.0.1:${port}`],
      ['--exit-idle-time=infinity', backend.address],
    );
    cleanups.push(() => proxy.stop());
    // The first connection activates the proxy; what it holds then is the baseline.
    await opened(port, 'first');
    const pid = proxy.child.pid!;
    const before = openFdCount(pid);
    for (let i = 0; i < CONNECTIONS; i++) await opened(port, `conn ${i};`);
    const after = openFdCount(pid);
    expect(after - before).toBeGreaterThanOrEqual(2 * CONNECTIONS);
    expect(after - before).toBeLessThanOrEqual(2 * CONNECTIONS + POOL_FDS);
  });
});
