/**
 * Stop or restart, asked by root for a service that may not ask itself.
 *
 * A DynamicUser= service cannot learn its unit's pending job: systemd's private bus is root-only
 * and Debian's dbus-daemon drops dynamic uids. So the unit runs `sockrelay stop-intent` as
 * `ExecStop=-+…` (`+`: as root, outside the sandbox). systemd runs ExecStop= to its end before it
 * sends the KillSignal=, so the answer is in place when SIGTERM arrives. The hook asks systemd
 * for the job and FileDescriptorStoreMax= of the unit, and leaves them in a small file named
 * after $INVOCATION_ID under a root-owned directory in /run, which the sandboxed service can read
 * (ProtectSystem=strict makes /run read-only, not hidden). `ExecStopPost=-+… stop-intent --clear`
 * removes it.
 *
 * The main process trusts the file only when it cannot be anyone else's word: root owns it and
 * its directory, neither is writable by others, it names this invocation and this main pid. A
 * missing, stale or foreign answer counts as no answer, and the main process falls back to
 * asking the bus itself, then to draining: never to a handover systemd would cut.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { UnitJob } from './systemd-job.js';

export const STOP_INTENT_DIR = '/run/sockrelay-stop-intent';
const INVOCATION_ID = /^[0-9a-f]{32}$/;
const FORMAT = 1;

export interface StopIntent extends UnitJob {
  invocation: string;
  mainPid: number;
}

export class StopIntentError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function invocationOf(env: NodeJS.ProcessEnv): string {
  const id = env.INVOCATION_ID ?? '';
  if (!INVOCATION_ID.test(id))
    throw new StopIntentError('ERR_NO_INVOCATION', '$INVOCATION_ID is not set: not run by systemd');
  return id;
}

/** Root-owned and writable by root alone: nobody else can have put it there. */
function ownedByRootAlone(stat: { uid: number; mode: number }): boolean {
  return stat.uid === 0 && (stat.mode & 0o022) === 0;
}

/** The hook's side: leaves `intent` for the main process. Root only. */
export function writeStopIntent(intent: StopIntent, dir = STOP_INTENT_DIR): string {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (!ownedByRootAlone(lstatSync(dir)))
    throw new StopIntentError('ERR_INTENT_DIR', `${dir} is not a directory only root can write`);
  const path = join(dir, intent.invocation);
  const body = JSON.stringify({ v: FORMAT, ...intent });
  // Written whole, then renamed into place: a reader never sees half an answer.
  writeFileSync(`${path}.tmp`, `${body}\n`, { mode: 0o644 });
  renameSync(`${path}.tmp`, path);
  return path;
}

/** ExecStopPost=: the invocation is over; its answer must not outlive it. */
export function clearStopIntent(env: NodeJS.ProcessEnv, dir = STOP_INTENT_DIR): void {
  try {
    unlinkSync(join(dir, invocationOf(env)));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/**
 * The main process's side, at SIGTERM: the job the hook found for this invocation and pid, or
 * why there is none to trust. Never throws.
 */
export function readStopIntent(
  env: NodeJS.ProcessEnv,
  pid: number,
  dir = STOP_INTENT_DIR,
): { job: UnitJob } | { none: string } {
  let id: string;
  try {
    id = invocationOf(env);
  } catch (err) {
    return { none: (err as Error).message };
  }
  let fd: number;
  try {
    fd = openSync(join(dir, id), constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { none: code === 'ENOENT' ? 'the stop hook left no answer' : `cannot open its answer (${code})` };
  }
  try {
    const dirStat = lstatSync(dir);
    const stat = fstatSync(fd);
    if (!dirStat.isDirectory() || !ownedByRootAlone(dirStat) || !stat.isFile() || !ownedByRootAlone(stat))
      return { none: 'its answer is not root-owned and root-only writable: ignored' };
    const intent = JSON.parse(readFileSync(fd, 'utf8')) as Partial<StopIntent> & { v?: unknown };
    if (intent.v !== FORMAT || intent.invocation !== id)
      return { none: 'its answer is for another invocation' };
    if (intent.mainPid !== pid)
      return { none: `its answer is for pid ${String(intent.mainPid)}, not ${pid}` };
    const jobType = typeof intent.jobType === 'string' ? intent.jobType : null;
    const fdStoreMax =
      typeof intent.fdStoreMax === 'number' &&
      Number.isSafeInteger(intent.fdStoreMax) &&
      intent.fdStoreMax >= 0
        ? intent.fdStoreMax
        : null;
    return { job: { jobType, fdStoreMax } };
  } catch (err) {
    return { none: `its answer is unreadable (${(err as Error).message})` };
  } finally {
    closeSync(fd);
  }
}

/** What the hook needs of its environment; the main pid is $MAINPID (unset once it has exited). */
export function hookTarget(env: NodeJS.ProcessEnv): { invocation: string; mainPid: number | null } {
  const invocation = invocationOf(env);
  const mainPid = Number(env.MAINPID);
  return { invocation, mainPid: Number.isSafeInteger(mainPid) && mainPid > 0 ? mainPid : null };
}
