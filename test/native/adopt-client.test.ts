/**
 * adoptClient(): a client socket accepted elsewhere (systemd's Accept=yes) takes the engine's own
 * accept path, so it gets the same backend connect (every address in turn) and the same PROXY
 * header as a client the engine accepted itself. The accepted socket comes from a real accept: an
 * engine exports its connection (handover), and the test keeps only the client's side.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { dial, echo, freePort, startServer } from '../helpers/net.js';
import { loadNative, type RelayEngineNative, type RelayEngineOptions } from '../../src/native/binding.js';

const native = loadNative().binding!;

describe('RelayEngine#adoptClient', () => {
  const cleanups = useCleanups();

  function engine(options: RelayEngineOptions): RelayEngineNative {
    const e = new native.RelayEngine(options, () => undefined);
    cleanups.push(() => e.destroy());
    return e;
  }

  /** A connected client, and the fd of its accepted end, which now belongs to the caller. */
  async function acceptedClient(): Promise<{ client: Socket; clientFd: number; port: number }> {
    const sink = await startServer(() => undefined);
    cleanups.push(() => sink.close());
    const listenFd = native.listenSocket(
      { family: 'inet', address: '127.0.0.1', port: 0 },
      { type: 'stream' },
    );
    const port = native.fdinfo(listenFd).localPort;
    const acceptor = engine({
      listeners: [{ fd: listenFd, backend: 0 }],
      backends: [[{ family: 'inet', address: '127.0.0.1', port: sink.port }]],
      connectionsMax: 8,
      pipeSize: 0,
      connectTimeoutMs: 1000,
      connectionEvents: false,
    });
    acceptor.start();
    const client = dial(port);
    cleanups.push(() => client.destroy());
    await once(client, 'connect', { signal: AbortSignal.timeout(5000) });
    await expect.poll(() => sink.accepted, { timeout: 5000 }).toBe(1);
    const [handed] = await acceptor.exportConnections(2000);
    acceptor.destroy();
    native.close(handed!.backendFd!);
    return { client, clientFd: handed!.clientFd, port };
  }

  async function adopter(backendPort: number): Promise<RelayEngineNative> {
    const dead = { family: 'inet' as const, address: '127.0.0.1', port: await freePort() };
    return engine({
      // No fd: an engine that never accepts, as for an Accept=yes connection.
      listeners: [{ fd: null, backend: 0, proxyProtocol: 'v1' }],
      backends: [[dead, { family: 'inet', address: '127.0.0.1', port: backendPort }]],
      connectionsMax: 8,
      pipeSize: 0,
      connectTimeoutMs: 5000,
      connectionEvents: false,
    });
  }

  it('connects the backend past a dead first address and sends the PROXY header first', async () => {
    const { client, clientFd, port } = await acceptedClient();
    const backendPort = await freePort();
    const backend = await startServer(echo, { host: '127.0.0.1', port: backendPort });
    cleanups.push(() => backend.close());
    const e = await adopter(backendPort);
    e.stopAccepting();
    e.adoptClient(0, clientFd);
    e.start();
    client.write('x');
    const expected = `PROXY TCP4 127.0.0.1 127.0.0.1 ${client.localPort} ${port}\r\nx`;
    let received = '';
    client.on('data', (d: Buffer) => (received += d.toString('latin1')));
    await expect.poll(() => received, { timeout: 5000 }).toBe(expected);
    expect(e.stats().listeners[0]).toMatchObject({ accepted: 1, active: 1 });
    client.end();
    await expect.poll(() => e.active(), { timeout: 5000 }).toBe(0);
  });

  it('once started it refuses with EALREADY and closes the socket it was given', async () => {
    const { client, clientFd } = await acceptedClient();
    const e = await adopter(await freePort());
    e.stopAccepting();
    e.start();
    expect(() => e.adoptClient(0, clientFd)).toThrow(expect.objectContaining({ code: 'EALREADY' }));
    await once(client, 'end', { signal: AbortSignal.timeout(5000) });
  });

  it('a bad listener index is a TypeError, and the socket given is closed all the same', async () => {
    const { client, clientFd } = await acceptedClient();
    const e = await adopter(await freePort());
    expect(() => e.adoptClient(1, clientFd)).toThrow(TypeError);
    await once(client, 'end', { signal: AbortSignal.timeout(5000) });
  });
});
