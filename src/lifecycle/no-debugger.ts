/**
 * No signal may open a debugger. Node's default answer to SIGUSR1 is to start an inspector on
 * 127.0.0.1:9229 that asks for no credentials: any local user could then run code inside the
 * process that carries every client's traffic. Node 20 has no --disable-sigusr1; but a JS
 * listener for SIGUSR1 replaces Node's handler (libuv installs its own), after which the signal
 * is just an event. Importing this module installs that listener, so the launcher
 * (src/launch/launcher.ts) imports it first, before it reads the bundle, and cli.ts does too for
 * runs without the launcher: ES modules evaluate in import order, so this runs before the rest.
 *
 * An inspector already open when sockrelay starts came either from the node command line
 * (`node --inspect dist/cli.js`: someone deliberately debugging, left open with a warning) or
 * from NODE_OPTIONS, the environment, which a service inherits without anyone asking for a
 * debugger in it (a manager's imported environment, a developer's shell): that one is closed.
 * node:inspector costs milliseconds to load, so that check runs once the proxy serves, off the
 * first client's path; the signal listener, which costs nothing, is what must come first.
 */
import type { Logger } from '../logger.js';

const INSPECT_FLAG = /^--inspect(?:-brk|-wait)?(?:=|$)/;

export function ignoreDebugSignal(target: Pick<NodeJS.Process, 'on'> = process): void {
  target.on('SIGUSR1', () => undefined);
}

ignoreDebugSignal();

/** Closes an inspector open at start unless the node command line asked for it; logs either way. */
export async function closeUnrequestedInspector(
  logger: Logger,
  execArgv: readonly string[] = process.execArgv,
): Promise<void> {
  const { default: inspector } = await import('node:inspector');
  const url = inspector.url();
  if (url === undefined) return;
  if (execArgv.some((arg) => INSPECT_FLAG.test(arg))) {
    logger.warn(
      { inspector: url },
      'a debugger is open, as the node command line asked: anyone local may attach',
    );
    return;
  }
  inspector.close();
  logger.warn({ inspector: url }, 'closed the debugger NODE_OPTIONS opened: sockrelay runs without one');
}
