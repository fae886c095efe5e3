/** The fixture clients (test/systemd/fixtures/client.mjs), run inside the container. */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { onTestFinished } from 'vitest';
import type { Container } from './container.js';

const CLIENT = '/opt/sockrelay/test/systemd/fixtures/client.mjs';

export type Reply = Record<string, unknown>;

export async function client(c: Container, ...args: string[]): Promise<Reply> {
  const out = await c.run(['/usr/local/bin/node', CLIENT, ...args], { timeoutMs: 30_000 });
  const last = out.trim().split('\n').at(-1);
  if (!last) throw new Error(`client ${args.join(' ')} printed nothing`);
  return JSON.parse(last) as Reply;
}

export const echo = (c: Container, proto: 'tcp' | 'udp', port: number, text: string, host = '127.0.0.1') =>
  client(c, 'echo', proto, host, String(port), text);

/** A download that streams while the test acts on the unit; `lines` yields its JSON progress. */
export interface Download {
  child: ChildProcess;
  progress: Reply[];
  /** The client's final line ({end, bytes, intact}), or {end: 'exited'} if it ended without one. */
  done: Promise<Reply>;
}

/** Long-lived clients outlive the fixture's default 20 s timeout. */
const LONG_LIVED = ['/usr/bin/env', 'CLIENT_TIMEOUT_MS=120000'];

export function download(c: Container, port: number, bytes: number, rate: number): Download {
  const child = c.spawn([
    ...LONG_LIVED,
    '/usr/local/bin/node',
    CLIENT,
    'download',
    '127.0.0.1',
    String(port),
    String(bytes),
    String(rate),
  ]);
  const progress: Reply[] = [];
  const done = new Promise<Reply>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const reply = JSON.parse(line) as Reply;
      progress.push(reply);
      if ('end' in reply || 'error' in reply) resolve(reply);
    });
    child.on('close', (code) => resolve({ end: 'exited', code }));
  });
  // Ended with the test, pass or fail, so no stream outlives it into the next test. A client that
  // has exited already makes that end an EPIPE: nothing to end then.
  child.stdin!.on('error', () => undefined);
  onTestFinished(() => void child.stdin!.end());
  return { child, progress, done };
}

/** Bytes the download has received so far. */
export const received = (d: Download): number => Number(d.progress.at(-1)?.bytes ?? 0);

/** One UDP socket kept for the whole test: `ask` sends a datagram from it and resolves with the reply. */
export interface UdpSession {
  ask(text: string): Promise<Reply>;
}

export function udpSession(c: Container, port: number, host = '127.0.0.1'): UdpSession {
  const child = c.spawn([...LONG_LIVED, '/usr/local/bin/node', CLIENT, 'udp-session', host, String(port)]);
  const waiting: Array<(reply: Reply) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) =>
    waiting.shift()?.(JSON.parse(line) as Reply),
  );
  child.stdin!.on('error', () => undefined);
  onTestFinished(() => void child.stdin!.end());
  return {
    ask: (text) =>
      new Promise<Reply>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no UDP reply to '${text}' within 10 s`)), 10_000);
        waiting.push((reply) => (clearTimeout(timer), resolve(reply)));
        child.stdin!.write(`${text}\n`);
      }),
  };
}
