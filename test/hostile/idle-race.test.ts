/**
 * Issue 13 item 2: the idle exit must stop every source or none. When the idle timer fires while a UDP
 * session has just opened (its busy event not yet seen by JavaScript), the UDP relay refuses to stop;
 * the TCP engine, asked first, had already stopped accepting and nothing restarted it. Here the race is
 * made deterministic: the injected clock hands the test the idle callback, which runs after a session
 * is open, as it would when the event loop was busy at the deadline.
 */
import { spawnSync } from 'node:child_process';
import pino from 'pino';
import { describe, expect, it } from 'vitest';

import { SpliceEngine } from '../../src/engine/splice-engine.js';
import type { Clock } from '../../src/lifecycle/idle-monitor.js';
import { runUntilDone } from '../../src/lifecycle/run-loop.js';
import type { Logger } from '../../src/logger.js';
import { useCleanups } from '../helpers/cleanups.js';
import { inet, native } from '../helpers/engines.js';
import { dial, echo, sendAndCollect, startServer } from '../helpers/net.js';
import { Client, echoBackend, inheritedSocket, makeRelay, relayOptions } from '../udp/helpers.js';

const cleanups = useCleanups();

/** A clock whose timers fire only when the test says. */
function manualClock(): Clock & { fire(): void } {
  let last: (() => void) | null = null;
  return {
    setTimeout: (fn) => (last = fn),
    clearTimeout: () => undefined,
    // Fires the timer armed last even if it was cleared since: the callback was already queued when
    // the busy event arrived.
    fire: () => {
      const fn = last;
      last = null;
      fn?.();
    },
  };
}

/** Sends one datagram to 127.0.0.1:toPort from another process, without the event loop. */
function sendSync(toPort: number): void {
  const code = `import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"ping", ("127.0.0.1", ${toPort}))`;
  const r = spawnSync('python3', ['-c', code], { timeout: 5000 });
  if (r.status !== 0) throw new Error(`python3 send failed: ${r.stderr?.toString()}`);
}

/** Polls a native condition without yielding to the event loop, bounded in time. */
function waitSync(condition: () => boolean, ms: number): void {
  const deadline = Date.now() + ms;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    Atomics.wait(pause, 0, 0, 5);
  }
}

async function setup() {
  const tcpBackend = await startServer(echo);
  cleanups.push(() => tcpBackend.close());
  const listenFd = native.listenSocket({ family: 'inet', address: '127.0.0.1', port: 0 }, { type: 'stream' });
  cleanups.push(() => native.close(listenFd));
  const engine = new SpliceEngine(native, {
    listeners: [
      { fd: listenFd, label: 'tcp', backend: { spec: 'echo', addresses: [inet(tcpBackend.port)] } },
    ],
    connectionsMax: 64,
    pipeSize: 65536,
    connectTimeoutMs: 5000,
    connectionEvents: false,
  });
  const udpBackend = await echoBackend('udp4', '127.0.0.1', 'plain');
  cleanups.push(udpBackend.close);
  const udp = inheritedSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
  const relay = makeRelay(relayOptions(udp.fd, [inet(udpBackend.port)]));
  const clock = manualClock();
  let outcome: string | null = null;
  const loop = runUntilDone({
    sources: [engine, relay],
    exitIdleTimeMs: 60_000,
    shutdownTimeoutMs: 1000,
    logger: pino({ level: 'silent' }) as unknown as Logger,
    clock,
  });
  const done = loop.done.then((reason) => (outcome = reason));
  cleanups.push(async () => {
    loop.stop('SIGTERM');
    loop.stop('SIGTERM');
    await done;
  });
  return {
    tcpPort: native.fdinfo(listenFd).localPort,
    udpPort: udp.port,
    relay,
    clock,
    outcome: () => outcome,
  };
}

describe('idle exit racing a new UDP session', () => {
  it('keeps TCP accepting when the UDP relay refuses to stop', async () => {
    const { tcpPort, udpPort, relay, clock, outcome } = await setup();
    // All in one synchronous stretch, as with the event loop busy at the deadline: a session opens on
    // the relay's thread, and the idle check runs before JavaScript hears the relay is busy.
    sendSync(udpPort);
    waitSync(() => relay.activeSessions() === 1, 3000);
    clock.fire();

    const reply = await sendAndCollect(dial(tcpPort), Buffer.from('still served'), 3000);
    expect(reply.received.toString()).toBe('still served');
    expect(outcome()).toBeNull();
    // The relay, which refused, goes on too.
    const client = await Client.open('udp4', '127.0.0.1');
    cleanups.push(() => client.close());
    expect((await client.request('again', udpPort, '127.0.0.1')).data.toString()).toBe('again');
  });

  it('exits when every source agrees to stop', async () => {
    const { clock, outcome } = await setup();
    clock.fire();
    await expect.poll(outcome, { timeout: 3000 }).toBe('idle');
  });
});
