/**
 * Serving: tell systemd we are ready, run until idle or signalled (run-loop.ts),
 * hand live connections to the fd store on SIGTERM when there is one, and say
 * how it ended.
 */
import type { Config } from '../config/config.js';
import type { FdStore } from '../handover/fd-store.js';
import type { RunBusctl, UnitJob } from '../handover/systemd-job.js';
import type { ActivitySource } from '../lifecycle/activity-source.js';
import type { Clock } from '../lifecycle/idle-monitor.js';
import { Notifier, notifyTargetFromEnv } from '../lifecycle/notify.js';
import { runUntilDone, type RunLoop } from '../lifecycle/run-loop.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics/index.js';
import type { NativeBinding } from '../native/binding.js';
import { handoverTargets, statusLine, type DataPlane } from './data-plane.js';

/** How long a handover may wait for connections to flush into the kernel before draining them. */
const HANDOVER_FLUSH_MAX_MS = 3000;

export interface ServeContext {
  env: NodeJS.ProcessEnv;
  pid: number;
  clock?: Clock;
  logger: Logger;
  /** How to reach systemd's bus (tests); busctl on the system bus otherwise. */
  busctl?: RunBusctl;
  /**
   * A reload's successor: systemd takes its word only once the previous program has made it the
   * main process (src/reload/), so it says READY=1 then, not at start.
   */
  successor?: boolean;
  /** Called once the engines run, before READY=1. */
  onStarted?: (started: Started) => void;
}

/** The process as systemd sees it: whether its notifications count, and saying them. */
export interface MainProcess {
  readonly isMain: boolean;
  /** Now the unit's main process (a successor): READY=1, then STATUS= as usual. */
  becomeMain(): void;
  /** Another process is the main one now: say nothing more. */
  leave(): void;
  /** One sd_notify state, when systemd asked for them; never throws. */
  send(state: string): void;
}

export interface Started {
  loop: RunLoop;
  main: MainProcess;
}

/** How long each question to systemd (over the system bus) may take before a SIGTERM drains. */
const BUS_QUERY_MAX_MS = 2000;

/**
 * The SIGTERM step: on a restart of a unit with an fd store, puts connections in the store and
 * returns the drainer of the rest; on a stop, or when systemd cannot be asked, leaves them all to
 * drain (a stop empties the store, which would cut them with a clean end).
 */
function handoverToStore(
  binding: NativeBinding,
  plane: DataPlane,
  unknownStore: FdStore,
  config: Config,
  context: ServeContext,
  isMain: () => boolean,
): () => Promise<ActivitySource[]> {
  const { logger } = context;
  return async () => {
    // Loaded on the first SIGTERM, not at start: only a unit with an fd store gets here.
    const [{ handOver }, { readStopIntent }, { askUnitJob, busctl, decideOnSigterm }] = await Promise.all([
      import('../handover/handover.js'),
      import('../handover/stop-intent.js'),
      import('../handover/systemd-job.js'),
    ]);
    let from = 'stop hook';
    // The root ExecStop= hook's answer first (a DynamicUser= service cannot ask), then the bus.
    const ask = async (): Promise<UnitJob> => {
      const hook = readStopIntent(context.env, context.pid);
      if ('job' in hook) return hook.job;
      from = `bus (stop hook: ${hook.none})`;
      return askUnitJob(context.pid, context.busctl ?? busctl(BUS_QUERY_MAX_MS));
    };
    const decision = await decideOnSigterm(unknownStore, ask);
    if (!decision.handOver) {
      logger[decision.jobType === undefined ? 'warn' : 'info'](
        { job: decision.jobType ?? 'none', why: decision.why, from },
        'SIGTERM: draining, not handing over',
      );
      return [];
    }
    if (!isMain()) {
      // systemd ignores a store request from a process that is not the unit's main one.
      logger.info({ why: 'not the main process yet' }, 'SIGTERM: draining, not handing over');
      return [];
    }
    const { store } = decision;
    const flushMs = Math.min(config.shutdownTimeoutMs, HANDOVER_FLUSH_MAX_MS);
    const { drainer, ...result } = await handOver(handoverTargets(binding, plane), store, binding, flushMs);
    logger[result.storeError ? 'warn' : 'info'](
      { ...result, capacity: store.capacity, from },
      'handed over to the fd store',
    );
    return drainer ? [drainer] : [];
  };
}

/** Runs until done; resolves with why it stopped. */
export async function serveUntilDone(
  binding: NativeBinding,
  config: Config,
  plane: DataPlane,
  store: FdStore | null,
  metrics: Metrics | null,
  context: ServeContext,
): Promise<string> {
  const { logger } = context;
  const target = notifyTargetFromEnv(context.env, context.pid);
  const notifier = target ? new Notifier(binding, target, logger) : null;
  let isMain = !context.successor;
  let left = false;
  const main: MainProcess = {
    get isMain() {
      return isMain && !left;
    },
    becomeMain: () => {
      if (isMain || left) return;
      isMain = true;
      notifier?.ready(() => statusLine(plane));
    },
    leave: () => {
      left = true;
      notifier?.stop();
    },
    send: (state) => notifier?.send(state),
  };
  let finalStatus = '';
  const loop = runUntilDone({
    sources: plane.sources,
    ...(store
      ? { beforeDrain: handoverToStore(binding, plane, store, config, context, () => main.isMain) }
      : {}),
    // Accept=yes serves one connection: exit as soon as it is done.
    exitIdleTimeMs: plane.servesAccepted && plane.listeners.length === 0 ? 0 : config.exitIdleTimeMs,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    logger,
    ...(context.clock ? { clock: context.clock } : {}),
    beforeDestroy: () => metrics?.stop() ?? Promise.resolve(),
    onStopping: (why) => {
      finalStatus = statusLine(plane);
      if (main.isMain) notifier?.stopping(`stopping (${why}): ${finalStatus}`);
    },
  });
  context.onStarted?.({ loop, main });
  if (isMain) notifier?.ready(() => statusLine(plane));
  const reason = await loop.done;
  notifier?.stop();
  logger.info({ reason, status: finalStatus || undefined }, 'sockrelay stopped');
  return reason;
}
