/**
 * A relay created inside a worker_thread that is terminated without destroy(): the environment's
 * teardown must stop the relay's threads and free it, neither crashing nor hanging the process.
 * Each relay is left busy (a live connection or session) so that its thread is mid-work at teardown.
 * The scenario runs in a child process: a crash there must not take vitest down with it.
 */
import { describe, expect, it } from 'vitest';
import { ADDON, runChild, type ChildResult } from './run-child.js';

// Neither killed (a hang) nor crashed, and the worker ended as terminate() ends it: with code 1.
function expectCleanTermination(result: ChildResult): void {
  expect(result.signal).toBeNull();
  expect(result.stdout.trim()).toBe('TERMINATED:1');
  expect(result.code).toBe(0);
}

// The worker builds the relay, makes it busy, says 'ready' and waits to be terminated.
function terminateWorkerRunning(relayScript: string): string {
  // An eval'd worker is CommonJS: require, and an async function for the awaits.
  const code = `(async () => {
const { parentPort } = require('node:worker_threads');
const dgram = require('node:dgram');
const net = require('node:net');
const native = require(${JSON.stringify(ADDON)});
const inet = (port) => ({ family: 'inet', address: '127.0.0.1', port });
${relayScript}
})();`;
  return `
import { Worker } from 'node:worker_threads';
const worker = new Worker(${JSON.stringify(code)}, { eval: true, execArgv: [] });
worker.on('error', (err) => {
  console.log('WORKER-ERROR:' + err.message);
  process.exit(4);
});
await new Promise((resolve) => worker.once('message', resolve));
const code = await worker.terminate();
console.log('TERMINATED:' + code);
`;
}

describe('a relay in a terminated worker', () => {
  it('stream: teardown joins the relay threads, no crash, no hang', async () => {
    const result = await runChild(
      terminateWorkerRunning(`
const backend = net.createServer((s) => s.pipe(s)).listen(0, '127.0.0.1');
await new Promise((resolve) => backend.once('listening', resolve));
const fd = native.listenSocket(inet(0), { type: 'stream' });
let busy;
const isBusy = new Promise((resolve) => (busy = resolve));
const engine = new native.RelayEngine(
  { listeners: [{ fd, backend: 0 }], backends: [[inet(backend.address().port)]], connectionsMax: 8,
    pipeSize: 0, connectTimeoutMs: 1000, connectionEvents: true },
  (events) => { if (events.some((e) => e.type === 'open')) busy(); },
);
engine.start();
const client = net.connect(native.fdinfo(fd).localPort, '127.0.0.1');
client.on('error', () => {});
client.write('hello');
await isBusy;
parentPort.postMessage('ready');
`),
      30_000,
    );
    expectCleanTermination(result);
  });

  it('UDP: teardown joins the relay thread, no crash, no hang', async () => {
    const result = await runChild(
      terminateWorkerRunning(`
const backend = dgram.createSocket('udp4');
backend.on('message', (data, from) => backend.send(data, from.port, from.address));
await new Promise((resolve) => backend.bind(0, '127.0.0.1', resolve));
const fd = native.listenSocket(inet(0), { type: 'dgram' });
let busy;
const isBusy = new Promise((resolve) => (busy = resolve));
const relay = new native.UdpRelay(
  { fd, backend: [inet(backend.address().port)], sessionTimeoutMs: 60000, sessionsMax: 8 },
  (events) => { if (events.some((e) => e.type === 'busy')) busy(); },
);
relay.start();
const client = dgram.createSocket('udp4');
client.send('ping', native.fdinfo(fd).localPort, '127.0.0.1');
await isBusy;
parentPort.postMessage('ready');
`),
      30_000,
    );
    expectCleanTermination(result);
  });
});
