/**
 * Running the built CLI as systemd would: under systemd-socket-activate, under
 * our own Activator (which also re-activates after exit), or directly.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Activator, type ActivatorSocket } from './activator.js';
import { native } from './engines.js';

/** What `sockrelay` runs once installed (package.json "bin"): the launcher, the bundle and its code cache. */
export const CLI = fileURLToPath(new URL('../../dist/launch.cjs', import.meta.url));

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** Reads pino JSON lines from a child's stderr, and waits for the ones a test expects. */
export class LogReader {
  readonly lines: LogLine[] = [];
  readonly raw: string[] = [];
  private waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];
  private rawWaiters: Array<{ pattern: RegExp; count: number; resolve: () => void }> = [];

  push(text: string): void {
    this.raw.push(text);
    this.rawWaiters = this.rawWaiters.filter((w) => {
      if (this.raw.filter((r) => w.pattern.test(r)).length < w.count) return true;
      w.resolve();
      return false;
    });
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    this.lines.push(line);
    this.waiters = this.waiters.filter((w) => {
      if (!w.match(line)) return true;
      w.resolve(line);
      return false;
    });
  }

  /** Resolves once `count` raw stderr lines (JSON or not) matched `pattern`. */
  waitForRaw(pattern: RegExp, count = 1, timeoutMs = 10_000): Promise<void> {
    if (this.raw.filter((r) => pattern.test(r)).length >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`${count}x ${pattern} not seen within ${timeoutMs} ms; got:\n${this.raw.join('\n')}`),
          ),
        timeoutMs,
      );
      this.rawWaiters.push({ pattern, count, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  /** Resolves with the first line (already seen or coming) whose msg is `msg`. */
  waitFor(msg: string | ((l: LogLine) => boolean), timeoutMs = 10_000): Promise<LogLine> {
    const match = typeof msg === 'string' ? (l: LogLine) => l.msg === msg : msg;
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `log line ${String(msg)} not seen within ${timeoutMs} ms; got:\n${this.raw.join('\n')}`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }
}

export interface RunningProcess {
  child: ChildProcess;
  log: LogReader;
  exited: Promise<number | string>;
  /**
   * Waits for the process to end on its own and resolves with its exit code (or signal name), so a
   * test states the status it expects: `expect(await proxy.exitStatus()).toBe(0)`.
   */
  exitStatus(timeoutMs?: number): Promise<number | string>;
  /**
   * Ends the process (SIGKILL) if it still runs. One that already ended on its own must have
   * exited 0, or with the status a test already read through exitStatus(): an exit nobody looked at
   * (`internal error`, 70) fails the test that let it happen instead of passing unseen.
   */
  stop(): Promise<void>;
}

export function watchProcess(child: ChildProcess): RunningProcess {
  const log = new LogReader();
  let partial = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    lines.forEach((l) => log.push(l));
  });
  child.stdout?.resume();
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      if (partial) log.push(partial);
      resolve(code ?? signal ?? -1);
    }),
  );
  let statusRead = false;
  return {
    child,
    log,
    exited,
    exitStatus: async (timeoutMs = 10_000) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`still running after ${timeoutMs} ms; stderr:\n${log.raw.join('\n')}`)),
          timeoutMs,
        );
      });
      try {
        const status = await Promise.race([exited, timeout]);
        statusRead = true;
        return status;
      } finally {
        clearTimeout(timer);
      }
    },
    stop: async () => {
      const endedOnItsOwn = child.exitCode !== null || child.signalCode !== null;
      if (!endedOnItsOwn) child.kill('SIGKILL');
      const status = await exited;
      if (endedOnItsOwn && !statusRead && status !== 0) {
        throw new Error(`exited ${status} where no test expected it; stderr:\n${log.raw.join('\n')}`);
      }
    },
  };
}

/** `sockrelay ARGS` to completion, with only PATH and `env` in its environment. */
export function runCliSync(args: string[], env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: 10_000,
  });
  return { code: result.status, stderr: result.stderr, stdout: result.stdout };
}

/** What `sockrelay ARGS` printed on stdout; throws, with its stderr, unless it exited 0. */
export function cliStdout(args: string[], env: NodeJS.ProcessEnv = {}): string {
  const { code, stdout, stderr } = runCliSync(args, env);
  if (code !== 0) throw new Error(`sockrelay ${args.join(' ')} exited ${code}:\n${stderr}`);
  return stdout;
}

/** `sockrelay ARGS` with no sockets handed over. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): RunningProcess {
  return watchProcess(spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/**
 * `systemd-socket-activate [ACTIVATE_ARGS] node dist/launch.cjs ARGS`, resolved once it listens on
 * every -l address (it says so on stderr), so clients never race its bind. `wrapper` runs it
 * (`ip netns exec NS`, `setpriv …`): each of those execs, so the pid stays the proxy's.
 */
export async function underSocketActivate(
  activateArgs: string[],
  args: string[],
  wrapper: string[] = [],
): Promise<RunningProcess> {
  const [command, ...prefix] = [...wrapper, 'systemd-socket-activate'];
  const running = watchProcess(
    spawn(command!, [...prefix, ...activateArgs, process.execPath, CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const sockets = activateArgs.filter((a) => a === '-l' || a.startsWith('--listen')).length;
  try {
    await running.log.waitForRaw(/^Listening on /, sockets);
  } catch (err) {
    await running.stop();
    throw err;
  }
  return running;
}

export interface Supervised {
  activator: Activator;
  /** The LogReader of each activation in turn. */
  activations: RunningProcess[];
  /** Resolves with the next activation (or the current one if it has not been taken yet). */
  nextActivation(timeoutMs?: number): Promise<RunningProcess>;
  stop(): Promise<void>;
}

/** Our Activator: holds the sockets, spawns sockrelay ARGS on demand (or now), and again after it exits. */
export function supervise(
  sockets: ActivatorSocket[],
  args: string[],
  options: {
    spawn?: 'on-demand' | 'now';
    respawn?: boolean;
    env?: NodeJS.ProcessEnv;
    /** Run through this command first (it must exec the rest in the same process), e.g. prlimit. */
    wrapper?: string[];
  } = {},
): Supervised {
  const activator = new Activator(native, {
    sockets,
    command: [...(options.wrapper ?? []), process.execPath, CLI, ...args],
    spawn: options.spawn ?? 'on-demand',
    respawn: options.respawn ?? true,
    ...(options.env ? { env: options.env } : {}),
  });
  const activations: RunningProcess[] = [];
  let taken = 0;
  let waiting: ((p: RunningProcess) => void) | null = null;
  activator.on('spawn', ({ child }: { child: ChildProcess }) => {
    const running = watchProcess(child);
    activations.push(running);
    if (waiting) {
      taken++;
      waiting(running);
      waiting = null;
    }
  });
  activator.start();
  return {
    activator,
    activations,
    nextActivation: (timeoutMs = 10_000) => {
      if (activations.length > taken) return Promise.resolve(activations[taken++]!);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no activation within ${timeoutMs} ms`)), timeoutMs);
        waiting = (p) => {
          clearTimeout(timer);
          resolve(p);
        };
      });
    },
    stop: async () => {
      // An activation that ended before the stop must have exited as its test expected (see stop()).
      const ended = activations.filter((a) => a.child.exitCode !== null || a.child.signalCode !== null);
      await activator.stop();
      await Promise.all(ended.map((a) => a.stop()));
    },
  };
}
