/**
 * Stop and reload, as one state machine: a reload (SIGHUP; `systemctl reload` sends it through
 * ExecReload=) hands every listener and live connection over to a successor process — the
 * program as installed now, with the settings as configured now — and a stop (SIGTERM, SIGINT)
 * at any moment of it still drains every connection, here or there.
 *
 *   serving ─SIGHUP→ checking ─ok→ exporting → starting ─ready→ adopting ─serving→ handed
 *
 * - checking: the next program runs with --check-config (what it runs at start, the addon
 *   included). A bad configuration refuses the reload, says why, and this process serves on.
 * - exporting: RELOADING=1; connections stop here, flush into the kernel and are exported
 *   (src/handover/), as for the fd store; the list of their fds is the successor's LISTEN_FDS.
 * - starting: the successor starts (successor.ts), configures itself and says `ready`. Until it
 *   is told `go` it adopts nothing, so when it fails (exits, never answers), or a stop arrives
 *   meanwhile, the connections resume here, in a fresh engine on the same listeners, and a
 *   stop then drains them here.
 * - adopting: `go`; it adopts and says `serving`. A stop now is passed on: the successor drains.
 * - handed: this process lets go of its copies, tells systemd that the successor is the main
 *   process (READY=1, MAINPID=, confirmed by BARRIER=1) and the successor that it is, and exits
 *   once what it still relays (connections that were not flushed) has ended. Were a stop passed on before that, this process stays the main one, and exits only
 *   after the successor has, so that systemd never takes the successor for a leftover to kill.
 *
 * A SIGHUP during a reload is carried out after it: here when the reload did not happen, by the
 * successor when it did. Stops the successor hears both from its predecessor and from a signal
 * (systemd signals the whole cgroup) count once.
 */
import type { Config } from '../config/config.js';
import { handOver, type FdSink, type HandoverTargets } from '../handover/handover.js';
import type { ActivitySource } from '../lifecycle/activity-source.js';
import type { RunLoop } from '../lifecycle/run-loop.js';
import type { Logger } from '../logger.js';
import type { NativeBinding } from '../native/binding.js';
import { checkConfig } from './check-config.js';
import type { ControlChannel } from './control-channel.js';
import { nextProgram, type RunningProgram } from './next-program.js';
import type { Predecessor } from './predecessor.js';
import { startSuccessor } from './successor.js';

/** How long the export may wait for connections to flush into the kernel. */
const FLUSH_MAX_MS = 3000;
/** How long the successor may take to be configured and ready to adopt. */
const READY_MAX_MS = 30_000;
const BARRIER_MAX_MS = 5000;

export interface Serving {
  binding: Pick<NativeBinding, 'dup' | 'close' | 'setAbortOnClose' | 'pipe' | 'sdNotify' | 'waitReadable'>;
  config: Config;
  /** Every socket gathered at start (listeners, datagram sockets, metrics fds), in order. */
  sockets: Array<{ fd: number; name: string }>;
  loop: RunLoop;
  main: { readonly isMain: boolean; becomeMain(): void; leave(): void; send(state: string): void };
  /** Accept=yes: the process serves its one connection and ends; there is nothing to reload. */
  servesAccepted: boolean;
  targets(): HandoverTargets;
  /** After a handover that did not happen: relays `fds` here again, accepting as before. */
  resumeHere(fds: Array<{ fd: number; name: string }>): Promise<void>;
  /** The successor listens on this process's sockets: leave their files at exit. */
  handedOver(): void;
  /** The process exits only once `until` has settled too. */
  holdExit(until: Promise<void>): void;
  notifySocket: string | undefined;
  /** The program that started this one, when this one is a reload's successor. */
  predecessor: Predecessor | null;
}

type Phase = 'serving' | 'checking' | 'exporting' | 'starting' | 'adopting' | 'handed' | 'stopping';

export interface StopAndReload {
  stop(signal: NodeJS.Signals): void;
  reload(signal: NodeJS.Signals): void;
}

/** LISTEN_FDNAMES separates names with ':', so a name holding one cannot cross as it is. */
const fdName = (name: string): string => (name === '' || name.includes(':') ? 'unknown' : name);

/** The successor's LISTEN_FDS: our copies, theirs from the exec on. */
function successorList(
  binding: Serving['binding'],
): FdSink & { entries: Array<{ name: string; fd: number }> } {
  const entries: Array<{ name: string; fd: number }> = [];
  return {
    capacity: Number.MAX_SAFE_INTEGER,
    entries,
    // handOver closes its own copy once stored: keep one.
    store: (name, fd) => void entries.push({ name, fd: binding.dup(fd) }),
    remove: (name) => {
      const at = entries.findIndex((e) => e.name === name);
      if (at >= 0) binding.close(entries.splice(at, 1)[0]!.fd);
    },
  };
}

export function stopAndReload(
  running: RunningProgram,
  serving: Serving,
  env: NodeJS.ProcessEnv,
  logger: Logger,
): StopAndReload {
  const { binding, loop, main } = serving;
  let phase: Phase = 'serving';
  let reloadAgain = false;
  /** Stops heard while the connections were out of reach (exporting, starting): applied after. */
  const stopsHeld: NodeJS.Signals[] = [];
  let stopPassedOn = false;
  let successor: ControlChannel | null = null;
  /** The running --check-config: aborting it kills it; `ended` settles once it is reaped. */
  let check: { abort: AbortController; ended: Promise<unknown> } | null = null;
  const heard = { signal: 0, predecessor: 0 };

  const addDrainer = (sources: ActivitySource[]): void => loop.add(sources);

  function stopHere(signal: NodeJS.Signals): void {
    phase = 'stopping';
    loop.stop(signal);
  }

  function stop(signal: NodeJS.Signals, from: 'signal' | 'predecessor'): void {
    const before = Math.max(heard.signal, heard.predecessor);
    heard[from]++;
    if (Math.max(heard.signal, heard.predecessor) === before) return;
    switch (phase) {
      case 'stopping':
        // systemd signals every process of the unit once more when the main one has ended before
        // them (its final SIGTERM): for a successor still draining, that is no request to hurry.
        // systemd itself ends a drain that outlasts TimeoutStopSec= with SIGKILL.
        if (signal === 'SIGTERM' && serving.notifySocket)
          return void logger.info({ signal }, 'SIGTERM again under systemd: still draining');
        return stopHere(signal);
      case 'serving':
        return stopHere(signal);
      case 'checking': {
        // The check is killed and reaped before the drain: a process that ended first would leave
        // it behind, an orphan of the service, still running or for its new parent to reap.
        const ended = check?.ended ?? Promise.resolve();
        check?.abort.abort();
        phase = 'stopping';
        logger.info({ signal }, 'reload abandoned: stopping');
        return void ended.then(() => loop.stop(signal));
      }
      case 'exporting':
      case 'starting':
        stopsHeld.push(signal);
        return void logger.info(
          { signal },
          'a stop during the reload: the connections resume here, then drain',
        );
      case 'adopting':
      case 'handed':
        stopPassedOn = true;
        successor?.send('stop', signal);
        logger.info({ signal }, 'a stop during the reload: passed on to the successor, which drains');
        // What this process still relays drains here.
        if (phase === 'handed') loop.stop(signal);
    }
  }

  function reload(signal: NodeJS.Signals): void {
    switch (phase) {
      case 'serving':
        phase = 'checking';
        logger.info({ signal }, 'reloading');
        return void run().catch((err: unknown) => {
          logger.error(
            { err: err instanceof Error ? err.message : String(err) },
            'reload failed; still serving',
          );
          void settle();
        });
      case 'stopping':
        return void logger.warn({ signal }, 'stopping: no reload');
      case 'handed':
        if (!stopPassedOn) successor?.send('reload');
        return;
      default:
        if (!reloadAgain) logger.info({ signal }, 'a reload is under way: this one follows it');
        reloadAgain = true;
    }
  }

  /** The reload did not happen: serve on here, then do what was asked meanwhile. */
  async function settle(resume?: Array<{ name: string; fd: number }>): Promise<void> {
    if (resume) {
      try {
        await serving.resumeHere(resume);
      } catch (err) {
        logger.error({ err: (err as Error).message }, 'could not resume the connections here');
      }
    }
    phase = 'serving';
    if (stopsHeld.length > 0) {
      for (const signal of stopsHeld.splice(0)) stopHere(signal);
      return;
    }
    if (reloadAgain) {
      reloadAgain = false;
      setImmediate(() => reload('SIGHUP'));
    }
  }

  function refuse(why: string): Promise<void> {
    logger.error({ why }, 'reload refused; still serving');
    main.send(`STATUS=reload refused: ${why}`);
    return settle();
  }

  function failed(why: string, resume: Array<{ name: string; fd: number }>): Promise<void> {
    logger.error({ why }, 'reload failed; the connections resume here');
    // Ends the RELOADING=1 said before the export.
    main.send(`READY=1\nSTATUS=reload failed: ${why}`);
    return settle(resume);
  }

  async function run(): Promise<void> {
    if (serving.servesAccepted) return refuse('an Accept=yes service serves one connection and ends');
    let next;
    try {
      next = nextProgram(running, env);
    } catch (err) {
      return refuse((err as Error).message);
    }
    const abort = new AbortController();
    const ended = checkConfig(next, abort.signal);
    check = { abort, ended };
    const problem = await ended;
    check = null;
    if (phase !== 'checking') return; // a stop abandoned it
    if (problem !== null) return refuse(`the new configuration is invalid: ${problem}`);

    phase = 'exporting';
    main.send(`RELOADING=1\nMONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`);
    const list = successorList(binding);
    const flushMs = Math.min(serving.config.shutdownTimeoutMs, FLUSH_MAX_MS);
    const result = await handOver(serving.targets(), list, binding, flushMs);
    // Only when dup failed: those connections are relayed to their end here.
    if (result.drainer) addDrainer([result.drainer]);
    if (stopsHeld.length > 0) return settle(list.entries);

    phase = 'starting';
    const fds = [...serving.sockets.map((s) => ({ name: fdName(s.name), fd: s.fd })), ...list.entries];
    const started = startSuccessor(next, fds);
    const channel = (successor = started.channel);
    const ready = await new Promise<{ pid: number } | { why: string }>((resolve) => {
      const timer = setTimeout(() => resolve({ why: `no answer within ${READY_MAX_MS} ms` }), READY_MAX_MS);
      const done = (outcome: { pid: number } | { why: string }): void => {
        clearTimeout(timer);
        resolve(outcome);
      };
      channel.on('line', ([word, pid]) => {
        if (word === 'ready' && Number.isSafeInteger(Number(pid))) done({ pid: Number(pid) });
      });
      channel.once('end', () => done({ why: 'the new program ended before it was ready' }));
      void started.failedToStart.then((why) => done({ why }));
    });
    if ('why' in ready || stopsHeld.length > 0) {
      channel.send('abort');
      channel.close();
      successor = null;
      if ('why' in ready) return failed(ready.why, list.entries);
      return settle(list.entries);
    }

    phase = 'adopting';
    logger.info(
      {
        successor: ready.pid,
        connections: result.storedConnections,
        sessions: result.storedSessions,
        program: next.argv.slice(1),
      },
      'handing over to the new program',
    );
    const served = await new Promise<boolean>((resolve) => {
      channel.on('line', ([word]) => word === 'serving' && resolve(true));
      channel.once('end', () => resolve(false));
      channel.send('go');
    });
    if (!served) {
      successor = null;
      return failed('the new program ended before it served', list.entries);
    }

    phase = 'handed';
    for (const { fd } of list.entries) binding.close(fd);
    serving.handedOver();
    const gone = new Promise<void>((resolve) => channel.once('end', resolve));
    if (stopPassedOn) {
      // systemd stops this process's unit: it stays the main process until the successor is done.
      serving.holdExit(gone);
      main.leave();
      loop.retire();
      return;
    }
    await becomeSuccessorsUnit(ready.pid);
    // A stop came while systemd was being told: whether it took MAINPID= is unknown, so stay until
    // the successor is done (harmless if it did).
    if (stopPassedOn) serving.holdExit(gone);
    channel.send('main');
    main.leave();
    logger.info(
      { successor: ready.pid },
      'reloaded: the new program serves; this one ends with what it still relays',
    );
    if (reloadAgain) channel.send('reload');
    channel.hold(false);
    loop.retire();
  }

  /** READY=1 ends the reload; MAINPID= names the successor; BARRIER=1 waits until systemd has read both. */
  async function becomeSuccessorsUnit(pid: number): Promise<void> {
    if (!serving.notifySocket || !main.isMain) return;
    main.send('READY=1');
    main.send(`MAINPID=${pid}`);
    let ends: [number, number] | null = null;
    try {
      ends = binding.pipe();
      binding.sdNotify(serving.notifySocket, 'BARRIER=1', [ends[1]]);
      binding.close(ends[1]);
      const [readEnd] = ends;
      ends = null;
      const closed = await binding.waitReadable([readEnd], BARRIER_MAX_MS);
      binding.close(readEnd);
      if (closed.length === 0) logger.warn('systemd did not confirm the new main process in time');
    } catch (err) {
      if (ends) for (const fd of ends) binding.close(fd);
      logger.warn({ code: (err as NodeJS.ErrnoException).code }, 'could not confirm the new main process');
    }
    // A stop systemd sent before it read MAINPID= is on its way to this process: one turn of the loop hears it.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }

  serving.predecessor?.serving({
    stop: (signal) => stop(signal, 'predecessor'),
    reload: () => reload('SIGHUP'),
    becameMain: () => main.becomeMain(),
  });
  return { stop: (signal) => stop(signal, 'signal'), reload };
}
