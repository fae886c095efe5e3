/**
 * Starting the successor: the program as installed now, with the settings as configured now,
 * as a new process that inherits the listeners and the live connections as LISTEN_FDS, and one
 * end of the control channel (control-channel.ts).
 *
 * LISTEN_PID must be the successor's own pid, which no one knows before it exists: a shell
 * sets it to its own `$$` and execs the program in its place. The shell runs from another that
 * backgrounds it and exits at once, so the successor is a child of systemd (or of whatever
 * reaps orphans) from the start: when systemd makes it the unit's main process it is one of
 * its own, whose end it sees. /bin/sh is there under ProtectSystem=strict and DynamicUser=.
 */
import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { RELOAD_CONTROL_FD_NAME } from '../handover/fd-names.js';
import type { NextProgram } from './next-program.js';
import { ControlChannel } from './control-channel.js';

const SHELL = '/bin/sh';
const START_SCRIPT = `${SHELL} -c 'LISTEN_PID=$$ exec "$0" "$@"' "$0" "$@" &`;

/** What the environment of the successor must not carry from this process's. */
const NOT_INHERITED = ['LISTEN_PID', 'LISTEN_PIDFDID', 'LISTEN_FDS', 'LISTEN_FDNAMES', 'WATCHDOG_PID'];

export interface StartedSuccessor {
  channel: ControlChannel;
  /** The shell that starts it could not be run: the successor never existed. */
  failedToStart: Promise<string>;
}

export function startSuccessor(
  next: NextProgram,
  fds: Array<{ name: string; fd: number }>,
): StartedSuccessor {
  const env: Record<string, string> = { ...next.env };
  for (const name of NOT_INHERITED) delete env[name];
  env.LISTEN_FDS = String(fds.length + 1);
  env.LISTEN_FDNAMES = [...fds.map((f) => f.name), RELOAD_CONTROL_FD_NAME].join(':');
  const [, ...args] = next.argv;
  const child = spawn(SHELL, ['-c', START_SCRIPT, next.path, ...args], {
    env,
    argv0: 'sh',
    stdio: ['ignore', 'inherit', 'inherit', ...fds.map((f) => f.fd), 'pipe'],
  });
  const channel = new ControlChannel(child.stdio[3 + fds.length] as Socket);
  const failedToStart = new Promise<string>((resolve) => {
    child.once('error', (err: NodeJS.ErrnoException) => resolve(`${SHELL}: ${err.code ?? err.message}`));
    child.once('exit', (code, signal) => {
      if (code !== 0) resolve(`${SHELL} exited with ${code ?? signal}`);
    });
  });
  return { channel, failedToStart };
}
