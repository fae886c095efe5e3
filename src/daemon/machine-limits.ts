/**
 * Saying at start what the machine gives, one line each, with what to change: an fd store the
 * service cannot use, and an fd limit that holds connections below --connections-max. Both are
 * easy to miss until a restart drops every connection or clients queue in the backlog.
 */
import type { Logger } from '../logger.js';
import type { NofileLimit } from '../native/binding.js';

/**
 * Why the fd store (which carries open connections across a restart) cannot be used, or null.
 * systemd ≥ 254 exports FileDescriptorStoreMax= as $FDSTORE; the store is reached through
 * $NOTIFY_SOCKET. Kept to the environment in one place, so a check for systemds that do not
 * export $FDSTORE (252) can be added here.
 */
export function fdStoreProblem(env: NodeJS.ProcessEnv): string | null {
  const capacity = Number(env.FDSTORE ?? 0);
  const notify = env.NOTIFY_SOCKET !== undefined && env.NOTIFY_SOCKET !== '';
  if (capacity > 0 && !notify) {
    return `fd store unusable: FDSTORE=${env.FDSTORE} but NOTIFY_SOCKET is unset; set Type=notify (or NotifyAccess=main) in the service`;
  }
  if (notify && !(capacity > 0)) {
    return 'fd store unusable: FDSTORE is unset or 0, so a restart drops open connections; set FileDescriptorStoreMax= in the service (systemd 254 or later passes it on)';
  }
  return null;
}

/** The RLIMIT_NOFILE that lets `wanted` connections in, given the cap `capped` got and the fds `fdsFor` so many take. */
export function nofileNeeded(
  nofile: NofileLimit,
  wanted: number,
  capped: number,
  fdsFor: (connections: number) => number,
): number {
  return nofile.soft + fdsFor(wanted) - fdsFor(capped);
}

export interface MachineLimits {
  env: NodeJS.ProcessEnv;
  nofile: NofileLimit;
  /** --connections-max as given. */
  connectionsWanted: number;
  /** The cap the engine took, lowered to fit the fd limit; null without a stream engine. */
  connectionsCap: number | null;
  /** Fds so many stream connections take at most (src/engine/fd-budget.ts). */
  fdsFor: (connections: number) => number;
}

export function logMachineLimits(limits: MachineLimits, logger: Logger): void {
  const store = fdStoreProblem(limits.env);
  if (store) logger.warn({ fdStore: limits.env.FDSTORE ?? null }, store);
  const { nofile, connectionsWanted: wanted, connectionsCap: cap } = limits;
  if (cap !== null && cap < wanted) {
    const needed = nofileNeeded(nofile, wanted, cap, limits.fdsFor);
    logger.warn(
      { nofile, connectionsMax: cap, connectionsWanted: wanted },
      `fd limit ${nofile.soft} caps connections at ${cap}: LimitNOFILE=${needed} needed for -c ${wanted}`,
    );
  }
}
