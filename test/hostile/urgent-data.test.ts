/**
 * TCP urgent data (MSG_OOB: telnet Synch, FTP ABOR, rlogin) in the middle of a stream. splice(2)
 * stops at the urgent mark, so an engine that took its 0 for EOF lost every byte after the mark, and
 * one without a FIN stalled. Every byte must arrive in order, the urgent byte still urgent (at its
 * mark), either way. The peers are Python: Node cannot send MSG_OOB.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { inet, runEngine, type RunningEngine } from '../helpers/engines.js';

const peers = fileURLToPath(new URL('./urgent-peers.py', import.meta.url));

let running: RunningEngine | undefined;
afterEach(() => {
  running?.close();
  running = undefined;
});

interface Received {
  length: number;
  sha256: string;
  expected: string;
  marks: number[];
  eof: boolean;
}

async function relayUrgent(
  direction: 'up' | 'down',
  fin: 'fin' | 'nofin',
  late = false,
  pipesMax?: number,
): Promise<Received> {
  const args = [peers, direction, fin, ...(late ? ['late'] : [])];
  const child = spawn('python3', args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit', { signal: AbortSignal.timeout(15_000) });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const backendPort = Number((await lines.next()).value);
  running = runEngine([inet(backendPort)], pipesMax === undefined ? {} : { pipesMax });
  child.stdin.end(`${running.port}\n`);
  const result = JSON.parse(String((await lines.next()).value)) as Received;
  const [code] = await exited;
  expect(code).toBe(0);
  return result;
}

describe('urgent data through the stream engine', () => {
  for (const direction of ['up', 'down'] as const) {
    for (const fin of ['fin', 'nofin'] as const) {
      it(`delivers all 6,007 bytes in order, the urgent byte at its mark (${direction}, ${fin})`, async () => {
        const received = await relayUrgent(direction, fin);
        expect(received.length).toBe(6007);
        expect(received.sha256).toBe(received.expected);
        // Forwarded as urgent: the receiver's mark sits right before the urgent byte.
        expect(received.marks).toEqual([3000]);
        expect(received.eof).toBe(fin === 'fin');
      });
    }
    // The relay stops watching a sender whose bytes wait on the receiver, and watches it again once
    // the receiver reads: the urgent byte that came meanwhile must not be missed.
    it(`delivers the urgent byte at its mark after 16 MiB the receiver was slow to take (${direction})`, async () => {
      const received = await relayUrgent(direction, 'nofin', true);
      expect(received.length).toBe(16 * 1024 * 1024 + 3007);
      expect(received.sha256).toBe(received.expected);
      expect(received.marks).toEqual([16 * 1024 * 1024]);
    });
  }
});

// A flow without a pipe (the budget spent, or no fd for one) peeks, sends and only then takes: a
// peek at the mark would skip the urgent byte, so the mark must be honoured on that path too.
describe('urgent data through the stream engine without splice pipes', () => {
  for (const direction of ['up', 'down'] as const) {
    it(`delivers all 6,007 bytes in order, the urgent byte at its mark (${direction})`, async () => {
      const received = await relayUrgent(direction, 'fin', false, 0);
      expect(received.length).toBe(6007);
      expect(received.sha256).toBe(received.expected);
      expect(received.marks).toEqual([3000]);
      expect(received.eof).toBe(true);
    });
    it(`delivers the urgent byte at its mark after 16 MiB the receiver was slow to take (${direction})`, async () => {
      const received = await relayUrgent(direction, 'nofin', true, 0);
      expect(received.length).toBe(16 * 1024 * 1024 + 3007);
      expect(received.sha256).toBe(received.expected);
      expect(received.marks).toEqual([16 * 1024 * 1024]);
    });
  }
});
