/**
 * Serving until there is a reason to stop, and stopping without dropping anyone.
 *
 * Idle: no source has anything open for --exit-idle-time. Every source is
 * then asked to stop atomically (tryStop), and it is all or none: one that
 * refuses has just taken a client (its busy event not yet seen here), so the
 * sources stopped before it take clients again and the timer is re-armed.
 * Clients that arrive meanwhile wait in the kernel, unharmed; those that arrive
 * after the exit wait in the backlog systemd keeps and start the next instance.
 *
 * Stop (SIGTERM/SIGINT, as the caller routes them to `stop`): accepting stops
 * everywhere; open connections get --shutdown-timeout to finish, then are
 * reset. A second stop resets them at once. Both ends exit 0: they are a
 * socket-activated service's normal end.
 *
 * Retire: another process serves now. Nothing is accepted any more, nothing is
 * said to systemd, and what is still open here is relayed to its end.
 */
import { formatTimeSpan } from '../config/time-span.js';
import type { Logger } from '../logger.js';
import type { ActivitySource } from './activity-source.js';
import { IdleMonitor, realClock, type Clock } from './idle-monitor.js';

/** Timer APIs take 32-bit milliseconds. */
const MAX_MS = 2_147_483_647;

export interface RunLoopOptions {
  sources: ActivitySource[];
  exitIdleTimeMs: number;
  shutdownTimeoutMs: number;
  logger: Logger;
  clock?: Clock;
  /**
   * On a stop, awaited after accepting stops and before draining (the fd store's handover); the
   * sources it returns relay what it could not place, and are drained with the rest.
   */
  beforeDrain?: () => Promise<ActivitySource[]>;
  /** Called once, as stopping begins (sd_notify STOPPING=1). */
  onStopping?: (reason: string) => void;
  /**
   * Awaited once nothing takes new clients and before the sources are destroyed, while their
   * counters are still readable and final (the metrics textfile's last write).
   */
  beforeDestroy?: () => Promise<void>;
}

export interface RunLoop {
  /** Resolves with why it ended: 'idle', the stop signal, or 'retired'. */
  done: Promise<string>;
  stop(signal: NodeJS.Signals): void;
  /** Takes part from now: started, watched for activity, stopped and destroyed with the rest. */
  add(more: ActivitySource[]): void;
  /** Ends once what is open has finished, without a stop's timeout or STOPPING=1. */
  retire(): void;
}

export function runUntilDone(options: RunLoopOptions): RunLoop {
  const { sources, logger } = options;
  const activeTotal = (): number => sources.reduce((n, s) => n + s.active(), 0);
  let stop: (signal: NodeJS.Signals) => void = () => undefined;
  let add: (more: ActivitySource[]) => void = () => undefined;
  let retire: () => void = () => undefined;
  const done = new Promise<string>((resolve) => {
    // Native engines work on their own threads and hold no libuv handle: keep the loop alive.
    const keepAlive = setInterval(() => undefined, MAX_MS);
    let finished = false;
    const finish = (reason: string): void => {
      if (finished) return;
      finished = true;
      idle.stop();
      for (const source of sources) source.stopAccepting();
      void (options.beforeDestroy?.() ?? Promise.resolve())
        .catch((err: unknown) => logger.warn({ err }, 'before-exit step failed'))
        .finally(() => {
          clearInterval(keepAlive);
          for (const source of sources) source.destroy();
          resolve(reason);
        });
    };

    const idle = new IdleMonitor(
      options.exitIdleTimeMs,
      () => {
        if (stopAllOrNone(sources, logger)) {
          options.onStopping?.('idle');
          finish('idle');
        } else {
          // Its busy (and maybe idle) event may be collapsed away: do not rely on it to re-arm.
          idle.start();
        }
      },
      options.clock ?? realClock,
    );

    let draining = false;
    let retiring = false;
    stop = (signal) => {
      if (finished) return;
      if (draining) {
        logger.warn({ signal }, 'second signal: closing open connections now');
        finish(signal);
        return;
      }
      draining = true;
      idle.stop();
      for (const source of sources) source.stopAccepting();
      void (options.beforeDrain?.() ?? Promise.resolve([]))
        .catch((err: unknown): ActivitySource[] => {
          logger.warn({ err }, 'before-drain step failed: draining');
          return [];
        })
        .then((drainers) => {
          // Connections the handover could not place are relayed by these until they finish.
          sources.push(...drainers);
          drain(signal);
        });
    };
    const drain = (signal: NodeJS.Signals): void => {
      options.onStopping?.(signal);
      const open = activeTotal();
      if (open === 0) return finish(signal);
      logger.info({ signal, open, timeout: formatTimeSpan(options.shutdownTimeoutMs) }, 'draining');
      for (const source of sources) source.onIdle(() => activeTotal() === 0 && finish(signal));
      const timer = setTimeout(
        () => {
          logger.warn({ open: activeTotal() }, 'shutdown timeout: resetting open connections');
          finish(signal);
        },
        Math.min(options.shutdownTimeoutMs, MAX_MS),
      );
      timer.unref();
    };
    const watch = (source: ActivitySource): void => {
      source.onBusy(() => idle.setBusy(source.id, true));
      source.onIdle(() => {
        idle.setBusy(source.id, false);
        if (retiring && activeTotal() === 0) finish('retired');
      });
    };
    add = (more) => {
      if (finished) return void more.forEach((s) => s.destroy());
      sources.push(...more);
      for (const source of more) watch(source);
      for (const source of more) source.start();
      if (draining || retiring) for (const source of more) source.stopAccepting();
    };
    retire = () => {
      if (finished || draining || retiring) return;
      retiring = true;
      idle.stop();
      for (const source of sources) source.stopAccepting();
      if (activeTotal() === 0) finish('retired');
    };

    for (const source of sources) watch(source);
    // Sources first: an Accept=yes connection is busy from its start, before the timer is armed.
    for (const source of sources) source.start();
    idle.start();
  });
  return { done, stop: (signal) => stop(signal), add: (more) => add(more), retire: () => retire() };
}

/** Stops every source, or, if one refuses, resumes those already stopped; true when all stopped. */
function stopAllOrNone(sources: ActivitySource[], logger: Logger): boolean {
  const stopped: ActivitySource[] = [];
  for (const source of sources) {
    if (source.tryStop()) {
      stopped.push(source);
      continue;
    }
    for (const s of stopped) {
      try {
        s.resumeAfterTryStop();
      } catch (err) {
        logger.error({ err, source: s.id }, 'could not resume accepting after an aborted idle exit');
      }
    }
    return false;
  }
  return true;
}
