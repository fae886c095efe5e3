/**
 * The service manager's end of sd_notify: an AF_UNIX datagram socket the test owns (Node has
 * none, so python3 holds it) whose messages arrive as lines.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';

const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    print(json.dumps(s.recv(65536).decode()), flush=True)
`;

export interface NotifyReceiver {
  /** $NOTIFY_SOCKET for the service. */
  path: string;
  messages: string[];
  /** Resolves with the first message (seen or coming) that `match` accepts. */
  waitFor(match: (message: string) => boolean, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

/** Binds a fresh socket under `dir` (removed with it). */
export async function startNotifyReceiver(dir: string, python = 'python3'): Promise<NotifyReceiver> {
  const path = join(mkdtempSync(join(dir, 'notify-')), 'notify.sock');
  const child = spawn(python, ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  let partial = '';
  let bound: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (bound = resolve));
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line === 'bound') bound();
      else messages.push(JSON.parse(line) as string);
    }
  });
  const exited = once(child, 'exit');
  await Promise.race([ready, exited.then(() => Promise.reject(new Error('notify receiver died')))]);
  return {
    path,
    messages,
    waitFor: async (match, timeoutMs = 10_000) => {
      await expect.poll(() => messages.some(match), { timeout: timeoutMs }).toBe(true);
      return messages.find(match)!;
    },
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill();
      await exited;
    },
  };
}
