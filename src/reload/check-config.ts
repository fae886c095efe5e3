/**
 * A reload first runs the next program with --check-config, which parses its flags and
 * environment and loads the native addon like a start, and exits: an invalid configuration, or
 * an install whose addon no longer loads, is found while the running process still serves, and
 * its one-line error is the reason the reload is refused.
 */
import { execFile } from 'node:child_process';
import type { NextProgram } from './next-program.js';

const CHECK_TIMEOUT_MS = 30_000;

/** Variables that would make the check act as the service (notify systemd, adopt fds). */
const SERVICE_VARS = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_PID', 'LISTEN_FDS'];

/** null when the next program accepts its configuration; otherwise why not, in one line. */
export function checkConfig(next: NextProgram, signal?: AbortSignal): Promise<string | null> {
  const env = { ...next.env };
  for (const name of SERVICE_VARS) delete env[name];
  const [, ...args] = next.argv;
  return new Promise((resolve) => {
    execFile(
      next.path,
      [...args, '--check-config'],
      { env, timeout: CHECK_TIMEOUT_MS, maxBuffer: 64 * 1024, ...(signal ? { signal } : {}) },
      (err, _stdout, stderr) => {
        if (!err) return resolve(null);
        const line = stderr
          .split('\n')
          .map((l) => l.replace(/^<\d>/, '').trim())
          .find((l) => l !== '');
        resolve(line ?? `the check exited with ${err.code ?? err.signal ?? err.message}`);
      },
    );
  });
}
