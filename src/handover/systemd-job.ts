/**
 * Stop or restart? systemd sends the same SIGTERM for both, and only a restart
 * keeps the fd store: connections handed to it on a stop are closed by systemd,
 * and their clients see a clean end where the stream was cut. The unit's pending
 * job says which it is (a `restart` job stays the unit's job through its stop
 * half), and the unit's FileDescriptorStoreMax= says whether there is a store at
 * all, which systemd 252 does not tell in $FDSTORE.
 *
 * Both are asked with busctl, as a child process. Root asks systemd's private bus (there
 * may be no dbus-daemon at all). The service itself asks the system bus, which answers
 * these read-only questions for most users but not for a DynamicUser= uid on Debian's
 * dbus-daemon: that is why the shipped units let a root ExecStop= hook ask for them
 * (stop-intent.ts), and the service reads its answer first. Whatever cannot be asked
 * counts as a stop: draining is always safe, only slower.
 */
import { execFile } from 'node:child_process';
import type { FdStore } from './fd-store.js';

const SYSTEMD = 'org.freedesktop.systemd1';

/** Runs busctl with these arguments (after --system --json=short) and resolves with its stdout. */
export type RunBusctl = (args: string[]) => Promise<string>;

export interface UnitJob {
  /** The type of the unit's pending job (`restart`, `stop`, …), or null when it has none. */
  jobType: string | null;
  /** The unit's FileDescriptorStoreMax=, or null when it is not a service. */
  fdStoreMax: number | null;
}

export class BusReplyError extends Error {
  readonly code = 'ERR_BUS_REPLY';
}

/** The `data` of one `busctl --json=short` reply, checked to be of D-Bus type `type`. */
export function busctlData(stdout: string, type: string): unknown {
  let reply: unknown;
  try {
    reply = JSON.parse(stdout);
  } catch {
    throw new BusReplyError(`busctl printed no JSON: ${JSON.stringify(stdout.slice(0, 80))}`);
  }
  const { type: got, data } = (reply ?? {}) as { type?: unknown; data?: unknown };
  if (got !== type) throw new BusReplyError(`busctl replied type ${String(got)}, expected ${type}`);
  return data;
}

/** Job types whose stop half is followed by a start of the same unit: the store is kept for it. */
export function isRestartJob(jobType: string | null): boolean {
  return jobType === 'restart' || jobType === 'try-restart';
}

/** Asks systemd, through `run`, for the job and store size of the unit that process `pid` belongs to. */
export async function askUnitJob(pid: number, run: RunBusctl): Promise<UnitJob> {
  const call = ['call', SYSTEMD, '/org/freedesktop/systemd1', `${SYSTEMD}.Manager`, 'GetUnitByPID', 'u'];
  const [unit] = busctlData(await run([...call, String(pid)]), 'o') as [string];
  const property = async (path: string, iface: string, name: string, type: string): Promise<unknown> =>
    busctlData(await run(['get-property', SYSTEMD, path, `${SYSTEMD}.${iface}`, name]), type);

  const [jobId, jobPath] = (await property(unit, 'Unit', 'Job', '(uo)')) as [number, string];
  const jobType = jobId === 0 ? null : ((await property(jobPath, 'Job', 'JobType', 's')) as string);
  let fdStoreMax: number | null = null;
  try {
    fdStoreMax = (await property(unit, 'Service', 'FileDescriptorStoreMax', 'u')) as number;
  } catch {
    // Not a service (a scope, say): no store.
  }
  return { jobType, fdStoreMax };
}

/** systemd's own bus, root only: answers where no dbus-daemon runs. */
export const PRIVATE_BUS = 'unix:path=/run/systemd/private';

/** busctl on the system bus (or at `address`), each call bounded by `timeoutMs`. */
export function busctl(timeoutMs: number, address?: string): RunBusctl {
  const bus = address === undefined ? ['--system'] : [`--address=${address}`];
  return (args) =>
    new Promise((resolve, reject) => {
      execFile(
        'busctl',
        [...bus, '--json=short', ...args],
        { timeout: timeoutMs, killSignal: 'SIGKILL' },
        (err, stdout, stderr) => {
          if (!err) return resolve(stdout);
          const why = stderr.trim().split('\n')[0] || err.message;
          reject(Object.assign(new Error(`busctl ${args[0]}: ${why}`), { code: 'ERR_BUS_QUERY' }));
        },
      );
    });
}

export type StopDecision =
  | { handOver: true; store: FdStore; jobType: string | null }
  | { handOver: false; why: string; jobType?: string | null };

/** Hand over to the store on a restart of a unit that has one; drain on anything else. */
export async function decideOnSigterm(store: FdStore, ask: () => Promise<UnitJob>): Promise<StopDecision> {
  let asked: UnitJob;
  try {
    asked = await ask();
  } catch (err) {
    return { handOver: false, why: `cannot ask systemd: ${(err as Error).message}` };
  }
  const { jobType } = asked;
  if (!isRestartJob(jobType)) return { handOver: false, why: 'not a restart', jobType };
  const capacity = store.capacity ?? asked.fdStoreMax ?? 0;
  if (capacity <= 0) return { handOver: false, why: 'the unit has no fd store', jobType };
  return { handOver: true, store: store.capacity === null ? store.withCapacity(capacity) : store, jobType };
}
