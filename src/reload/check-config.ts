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

/**
 * null when the next program accepts its configuration; otherwise why not, in one line. Settles
 * only once the check has exited and been reaped, also when `signal` aborts it.
 */
export function checkConfig(next: NextProgram, signal?: AbortSignal): Promise<string | null> {
  const env = { ...next.env };
  for (const name of SERVICE_VARS) delete env[name];
  const [, ...args] = next.argv;
  return new Promise((resolve) => {
    const child = execFile(
      next.path,
      [...args, '--check-config'],
      // SIGKILL on a timeout: a check changes nothing, and one that hangs may not heed a SIGTERM.
      { env, timeout: CHECK_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 },
      (err, _stdout, stderr) => {
        if (!err) return resolve(null);
        const line = stderr
          .split('\n')
          .map((l) => l.replace(/^<\d>/, '').trim())
          .find((l) => l !== '');
        resolve(line ?? `the check exited with ${err.code ?? err.signal ?? err.message}`);
      },
    );
    // Not execFile's own `signal` option: that sends a SIGTERM and calls back at once, while the
    // check may still run; a stop waits for this promise so that no check outlives the proxy.
    signal?.addEventListener('abort', () => child.kill('SIGKILL'), { once: true });
  });
}
