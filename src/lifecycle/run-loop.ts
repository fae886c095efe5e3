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
 * Signal: SIGTERM/SIGINT stop accepting everywhere; open connections get
 * --shutdown-timeout to finish, then are reset. A second signal resets them
 * at once. Both ends exit 0: they are a socket-activated service's normal end.
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
  signals: Pick<NodeJS.Process, 'on' | 'off'>;
  clock?: Clock;
  /**
   * On SIGTERM/SIGINT, awaited after accepting stops and before draining: hands live connections
   * to the next instance (systemd's fd store); whatever it leaves open is drained as usual.
   */
  handover?: () => Promise<ActivitySource[]>;
  /** Called once, as stopping begins (sd_notify STOPPING=1). */
  onStopping?: (reason: string) => void;
  /**
   * Awaited once nothing takes new clients and before the sources are destroyed, while their
   * counters are still readable and final (the metrics textfile's last write).
   */
  beforeDestroy?: () => Promise<void>;
}

export function runUntilDone(options: RunLoopOptions): Promise<string> {
  const { sources, logger } = options;
  const activeTotal = (): number => sources.reduce((n, s) => n + s.active(), 0);
  return new Promise((resolve) => {
    // Native engines work on their own threads and hold no libuv handle: keep the loop alive.
    const keepAlive = setInterval(() => undefined, MAX_MS);
    let finished = false;
    const finish = (reason: string): void => {
      if (finished) return;
      finished = true;
      idle.stop();
      options.signals.off('SIGTERM', onSignal);
      options.signals.off('SIGINT', onSignal);
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
    const onSignal = (signal: NodeJS.Signals): void => {
      if (draining) {
        logger.warn({ signal }, 'second signal: closing open connections now');
        finish(signal);
        return;
      }
      draining = true;
      for (const source of sources) source.stopAccepting();
      void (options.handover?.() ?? Promise.resolve([]))
        .catch((err: unknown): ActivitySource[] => {
          logger.warn({ err }, 'handover failed: draining instead');
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
    options.signals.on('SIGTERM', onSignal);
    options.signals.on('SIGINT', onSignal);

    for (const source of sources) {
      source.onBusy(() => idle.setBusy(source.id, true));
      source.onIdle(() => idle.setBusy(source.id, false));
    }
    // Sources first: an Accept=yes connection is busy from its start, before the timer is armed.
    for (const source of sources) source.start();
    idle.start();
  });
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
