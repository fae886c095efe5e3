/** Runs the engine in-process on a real listening socket, for the contract tests. */
import { SpliceEngine, type SpliceEngineOptions } from '../../src/engine/splice-engine.js';
import type { EngineOptions } from '../../src/engine/types.js';
import { loadNative, type NativeBinding, type SocketAddress } from '../../src/native/binding.js';

export const native = loadNative().binding as NativeBinding;
if (!native)
  throw new Error(`the contract tests need the addon's fd helpers: ${loadNative().error?.message}`);

export interface RunningEngine {
  engine: SpliceEngine;
  port: number;
  listenFd: number;
  close(): void;
}

export interface RelayOptions extends Partial<Omit<EngineOptions, 'listeners'>> {
  /** Listen backlog of the engine's socket. */
  backlog?: number;
  pipesMax?: SpliceEngineOptions['pipesMax'];
}

export function runEngine(backend: SocketAddress[], options: RelayOptions = {}): RunningEngine {
  const listenFd = native.listenSocket(
    { family: 'inet', address: '127.0.0.1', port: 0 },
    { type: 'stream', backlog: options.backlog ?? 511 },
  );
  const engine = new SpliceEngine(native, {
    listeners: [{ fd: listenFd, label: 'test', backend: { spec: 'test-backend', addresses: backend } }],
    connectionsMax: options.connectionsMax ?? 256,
    pipeSize: options.pipeSize ?? 65536,
    connectTimeoutMs: options.connectTimeoutMs ?? 0,
    connectionIdleTimeoutMs: options.connectionIdleTimeoutMs ?? 0,
    keepaliveMs: options.keepaliveMs ?? 0,
    connectionEvents: options.connectionEvents ?? false,
    ...(options.pipesMax !== undefined ? { pipesMax: options.pipesMax } : {}),
  });
  engine.start();
  let closed = false;
  return {
    engine,
    listenFd,
    port: native.fdinfo(listenFd).localPort,
    close: () => {
      if (closed) return;
      closed = true;
      engine.destroy();
      native.close(listenFd);
    },
  };
}

export const inet = (
  port: number,
  address = '127.0.0.1',
  family: 'inet' | 'inet6' = 'inet',
): SocketAddress => ({
  family,
  address,
  port,
});
