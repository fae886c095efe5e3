/**
 * A proxy that reloads by handing over to a successor process: its pid changes, and the processes
 * it starts are not the test's children. So it runs under a subreaper (subreaper.py) that reports
 * every exit, and `exited` is 0 only when every process of it exited 0.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLI, watchProcess, type RunningProcess } from './proxy.js';

const SUBREAPER = fileURLToPath(new URL('./subreaper.py', import.meta.url));

export interface ReloadingProxy extends RunningProcess {
  /** The pid of the process that started last ('sockrelay started'). */
  servingPid(): number;
  /** Pids that have exited, with their codes. */
  reaped(): Map<number, number>;
  /** `signal` to `pid` if it still runs, else to the process serving now (as systemd signals its main pid). */
  signalMain(pid: number, signal: NodeJS.Signals): void;
}

/** What a process that handed over logs once its successor is the main process. */
const RETIRED = 'reloaded: the new program serves; this one ends with what it still relays';

/** Whether `pid` runs: not gone, not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

export function runReloading(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  cli = CLI,
  /** A command that execs the proxy (systemd-socket-activate …). */
  prefix: string[] = [],
): ReloadingProxy {
  const running = watchProcess(
    spawn('python3', [SUBREAPER, ...prefix, process.execPath, cli, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const reaped = (): Map<number, number> =>
    new Map(
      running.log.lines.filter((l) => l.msg === 'reaped').map((l) => [l.pid as number, l.code as number]),
    );
  const servingPid = (): number => {
    const started = running.log.lines.filter((l) => l.msg === 'sockrelay started');
    return started[started.length - 1]!.pid as number;
  };
  return {
    ...running,
    servingPid,
    reaped,
    signalMain: (pid, signal) => {
      // As systemd signals its main pid: a process that said it no longer is (its successor serves)
      // or that has exited is passed over. A signal to a process already on its way out would be
      // lost, where systemd would have given it to the successor named by MAINPID=.
      const handedOn = (p: number): boolean =>
        running.log.lines.some((l) => l.pid === p && l.msg === RETIRED);
      const target = [pid, servingPid()].find((p) => !reaped().has(p) && !handedOn(p) && alive(p));
      if (target === undefined) return;
      const seen = running.log.lines.length;
      try {
        process.kill(target, signal);
      } catch {
        // Gone between the look and the kill: the one serving now gets it.
        const next = servingPid();
        if (next !== target && !reaped().has(next)) tryKill(next, signal);
        return;
      }
      // A SIGHUP that a process handing over passes on leaves no line to look for: only stops.
      if (target === servingPid() || signal === 'SIGHUP') return;
      // It may still have been exiting: if it ends without a word of this signal, the successor
      // gets it, as it would have from systemd.
      void running.log
        .waitFor((l) => l.msg === 'reaped' && l.pid === target, 120_000)
        .then(
          () => {
            const heard = running.log.lines
              .slice(seen)
              .some((l) => l.pid === target && (l.signal === signal || l.reason === signal));
            const next = servingPid();
            // Never a pid already reaped: the kernel may have given it to another process.
            if (!heard && next !== target && !reaped().has(next)) tryKill(next, signal);
          },
          () => undefined,
        );
    },
    stop: async () => {
      if (running.child.exitCode === null && running.child.signalCode === null) running.child.kill('SIGTERM');
      await running.exited;
    },
  };
}

/**
 * For a proxy run outside the subreaper: the successor a reload starts is not the test's child and
 * outlives the proxy it replaced, so it is ended by its pid (which the old program logs as it hands
 * over) when the test's cleanups run. Call it as the reload is asked for.
 */
export function endSuccessorAtCleanup(
  proxy: RunningProcess,
  cleanups: { push(cleanup: () => unknown): void },
): void {
  const handing = proxy.log.waitFor((l) => l.msg === 'handing over to the new program');
  cleanups.push(async () => {
    const pid = (await handing).successor as number;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let tries = 0; tries < 200; tries++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    process.kill(pid, 'SIGKILL');
  });
}
