/**
 * connectUnix() runs on the JavaScript thread, so it must never block: against a unix backend whose
 * backlog is full, a blocking connect() would freeze the whole process until the backend accepts.
 * It runs in a child process, so that a connect that does block fails the test instead of hanging it.
 */
import { describe, expect, it } from 'vitest';
import { runChild } from './run-child.js';

describe('connectUnix', () => {
  it('fails with EAGAIN at once when the backlog is full, instead of freezing the process', async () => {
    const result = await runChild(
      `
const address = { family: 'unix', path: 'sockrelay-full-backlog-' + process.pid, abstract: true };
native.listenSocket(address, { type: 'stream', backlog: 0 });
const connected = [];
let failure = null;
// Nobody accepts: the backlog fills after a connection or two.
for (let i = 0; i < 16 && failure === null; i++) {
  try {
    connected.push(native.connectUnix(address));
  } catch (err) {
    failure = err;
  }
}
console.log(JSON.stringify({ connected: connected.length, code: failure?.code, syscall: failure?.syscall }));
`,
      20_000,
    );
    expect(result.signal).toBeNull();
    const outcome = JSON.parse(result.stdout) as { connected: number; code?: string; syscall?: string };
    expect(outcome.connected).toBeGreaterThanOrEqual(1);
    expect(outcome).toMatchObject({ code: 'EAGAIN', syscall: 'connect' });
  });
});
