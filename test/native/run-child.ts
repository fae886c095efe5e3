/**
 * Runs an ES module script in a separate node process, so that what the addon does to a process
 * (an uncaught exception, a crash or hang at teardown) happens to that process, not to vitest.
 * The script gets ADDON, the absolute path of the built addon, and ends by printing one line.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { nativeAddonPath } from '../../src/native/binding.js';

// SOCKRELAY_TEST_ADDON points the children at another build, e.g. an older one to see a test fail.
export const ADDON = process.env.SOCKRELAY_TEST_ADDON ?? nativeAddonPath();

/** Helpers every child script starts with: the addon, a loopback listener and a UDP echo backend. */
export const PRELUDE = `
import { createRequire } from 'node:module';
import dgram from 'node:dgram';
import net from 'node:net';
const native = createRequire(import.meta.url)(${JSON.stringify(ADDON)});
const inet = (port) => ({ family: 'inet', address: '127.0.0.1', port });
function udpEcho() {
  const s = dgram.createSocket('udp4');
  s.on('message', (data, from) => s.send(data, from.port, from.address));
  return new Promise((resolve) => s.bind(0, '127.0.0.1', () => resolve(s)));
}
`;

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export async function runChild(script: string, timeoutMs: number): Promise<ChildResult> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PRELUDE + script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // A hang is a failure too: the child is killed and the test sees the signal.
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, stdout, stderr };
}
