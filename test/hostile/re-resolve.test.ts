/**
 * A backend name resolved again while the engine runs: after every address failed, and at a fixed
 * interval. The resolver is ours (injected); the engine, its sockets and the backends are real.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { resolveBackend, type Lookup } from '../../src/backend/resolve.js';
import { parseAddress } from '../../src/config/address.js';
import { SpliceEngine, type SpliceEngineOptions } from '../../src/engine/splice-engine.js';
import { useCleanups } from '../helpers/cleanups.js';
import { native } from '../helpers/engines.js';
import { dial, echo, freePort, randomBytes, sendAndCollect, sha256, startServer } from '../helpers/net.js';

const cleanups = useCleanups();

/** A name whose address the test sets: 127.0.0.1 with the port given by `answer.port`. */
function controlledName(): { lookup: Lookup; answer: { address: string; fail: boolean } } {
  const answer = { address: '127.0.0.1', fail: false };
  const lookup: Lookup = async () => {
    if (answer.fail) throw Object.assign(new Error('queryA ESERVFAIL backend.test'), { code: 'ESERVFAIL' });
    return [{ address: answer.address, family: 4 }];
  };
  return { lookup, answer };
}

async function startEngine(
  port: number,
  lookup: Lookup,
  options: Partial<SpliceEngineOptions> = {},
): Promise<{ engine: SpliceEngine; port: number }> {
  const backend = await resolveBackend(parseAddress(`backend.test:${port}`), lookup);
  const fd = native.listenSocket(
    { family: 'inet', address: '127.0.0.1', port: 0 },
    { type: 'stream', backlog: 64 },
  );
  cleanups.push(() => native.close(fd));
  const engine = new SpliceEngine(native, {
    listeners: [{ fd, label: 'test', backend }],
    connectionsMax: 64,
    pipeSize: 65536,
    connectTimeoutMs: 0,
    connectionEvents: false,
    ...options,
  });
  engine.start();
  cleanups.push(() => engine.destroy());
  return { engine, port: native.fdinfo(fd).localPort };
}

async function roundTrip(port: number): Promise<boolean> {
  const payload = randomBytes(10_000);
  const exchange = await sendAndCollect(dial(port), payload, 5000);
  return exchange.error === null && sha256(exchange.received) === sha256(payload);
}

const next = <T>(engine: SpliceEngine, event: string): Promise<T> =>
  once(engine, event, { signal: AbortSignal.timeout(5000) }).then(([info]) => info as T);

describe('a backend name resolved again', () => {
  it('after every address failed: the next client reaches the new address', async () => {
    // The backend moved from 127.0.0.2 (nothing listens) to 127.0.0.1 after the proxy resolved it.
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const { lookup, answer } = controlledName();
    answer.address = '127.0.0.2';
    const relay = await startEngine(backend.port, lookup, { backendRefreshMs: 3_600_000 });
    answer.address = '127.0.0.1';
    const changed = next<{ backend: string; addresses: string[] }>(relay.engine, 'backendAddresses');
    expect(await roundTrip(relay.port)).toBe(false);
    expect(await changed).toEqual({
      backend: `backend.test:${backend.port}`,
      addresses: [`127.0.0.1:${backend.port}`],
    });
    expect(await roundTrip(relay.port)).toBe(true);
    expect(backend.accepted).toBe(1);
  });

  it('at the refresh interval, with no failure: new connections go to the new address', async () => {
    const port = await freePort();
    const first = await startServer(echo, { host: '127.0.0.1', port });
    const second = await startServer(echo, { host: '127.0.0.3', port });
    cleanups.push(() => first.close());
    cleanups.push(() => second.close());
    const { lookup, answer } = controlledName();
    const relay = await startEngine(port, lookup, { backendRefreshMs: 100 });
    expect(await roundTrip(relay.port)).toBe(true);
    answer.address = '127.0.0.3';
    await next(relay.engine, 'backendAddresses');
    expect(await roundTrip(relay.port)).toBe(true);
    expect([first.accepted, second.accepted]).toEqual([1, 1]);
  });

  it('keeps the addresses it has when the name cannot be resolved', async () => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const { lookup, answer } = controlledName();
    const relay = await startEngine(backend.port, lookup, { backendRefreshMs: 100 });
    answer.fail = true;
    const error = await next<{ backend: string; message: string }>(relay.engine, 'backendResolveError');
    expect(error.message).toMatch(/cannot resolve 'backend.test'/);
    expect(await roundTrip(relay.port)).toBe(true);
  });

  it('rejects addresses the engine cannot use, with a TypeError', async () => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const fd = native.listenSocket(
      { family: 'inet', address: '127.0.0.1', port: 0 },
      { type: 'stream', backlog: 8 },
    );
    // The engine's from here on: destroy() closes it.
    const engine = new native.RelayEngine(
      {
        listeners: [{ fd, backend: 0 }],
        backends: [[{ family: 'inet', address: '127.0.0.1', port: backend.port }]],
        connectionsMax: 8,
        pipeSize: 65536,
        connectTimeoutMs: 0,
        connectionEvents: false,
      },
      () => undefined,
    );
    cleanups.push(() => engine.destroy());
    expect(() => engine.setBackendAddresses(1, [{ family: 'inet', address: '127.0.0.1', port: 1 }])).toThrow(
      TypeError,
    );
    expect(() => engine.setBackendAddresses(0, [])).toThrow(TypeError);
    expect(() => engine.setBackendAddresses(0, [{ family: 'inet', address: 'nope', port: 1 }])).toThrow(
      TypeError,
    );
  });
});
