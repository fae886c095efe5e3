/**
 * One booted systemd in a throw-away copy of a cached Debian root (design §8).
 *
 * Why a container and not the host: the host's PID 1 is not systemd, and booting systemd on the
 * host's own root runs tmpfiles and wipes /tmp. So each run copies the cached root, boots it with
 * systemd-nspawn (private network: only its own loopback), and drives it from outside with
 * `nsenter` into the container's namespaces: systemctl, journalctl and the test clients (the host's
 * node, bound in read-only) all run inside. Teardown ends nspawn by its pid and removes the copy.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, openSync, readFileSync, mkdirSync, existsSync, readdirSync, rmdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** How long destroy() waits for nspawn to end after its PID 1 is killed, before killing nspawn too. */
const KILL_WAIT_MS = 10_000;
/** How long destroy() waits for the container's cgroups to empty. */
const CGROUP_WAIT_MS = 10_000;
/**
 * What destroy() may take: both waits above, and removing the copied root (tens of thousands of
 * files). Under load these together once overran a flat 30 s hook timeout, failing a suite whose
 * tests had all passed; the hook's bound is now the sum of its parts.
 */
export const DESTROY_MAX_MS = KILL_WAIT_MS + CGROUP_WAIT_MS + 60_000;

export const CHECKOUT = resolve(import.meta.dirname, '../../..');
export const HARNESS = import.meta.dirname;
export const CACHE = process.env.SOCKRELAY_SYSTEMD_CACHE ?? '/var/tmp/sockrelay-systemd';
/** The versions the suite runs on: Debian 12's own, and bookworm-backports (sets $FDSTORE). */
export const VERSIONS = ['252', '254'] as const;
export type SystemdVersion = (typeof VERSIONS)[number];

const CLEAN_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  SYSTEMD_PAGER: '',
  SYSTEMD_COLORS: '0',
  LANG: 'C.UTF-8',
};

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs make-root.sh; the roots are built once (minutes) and cached. */
export function ensureRoot(what: SystemdVersion | 'nspawn'): string {
  const made = spawnSync(join(HARNESS, 'make-root.sh'), [what], {
    encoding: 'utf8',
    env: { ...process.env, SOCKRELAY_SYSTEMD_CACHE: CACHE },
  });
  if (made.status !== 0) {
    const why = made.stderr.trim().split('\n').at(-1) ?? `exit ${made.status}`;
    throw new Error(`systemd suite: cannot make the ${what} root: ${why}`);
  }
  return made.stdout.trim();
}

export class Container {
  private constructor(
    readonly version: SystemdVersion,
    readonly dir: string,
    readonly root: string,
    private readonly nspawn: ChildProcess,
    readonly pid1: number,
    private readonly cgroup: string,
  ) {}

  /** Copy the cached root, let `prepare` write into it, boot, and wait until systemd is up. */
  static async boot(version: SystemdVersion, prepare: (root: string) => void): Promise<Container> {
    const nspawnBin = ensureRoot('nspawn');
    const cached = ensureRoot(version);
    mkdirSync(join(CACHE, 'runs'), { recursive: true });
    const dir = mkdtempSync(join(CACHE, 'runs', `${version}-`));
    const root = join(dir, 'root');
    // cp -a, not fs.cpSync: owners, modes and device nodes must survive the copy.
    const copied = spawnSync('cp', ['-a', cached, root], { encoding: 'utf8' });
    if (copied.status !== 0)
      throw new Error(`systemd suite: cannot copy the ${version} root: ${copied.stderr.trim()}`);
    prepare(root);
    const cgroup = `sockrelay-test-${dir.split('/').at(-1)}`;
    const console = openSync(join(dir, 'console.log'), 'w');
    const nspawn = spawn(join(HARNESS, 'boot.sh'), [nspawnBin, root, CHECKOUT, cgroup], {
      stdio: ['ignore', console, console],
      detached: true,
    });
    const failed = (why: string): Error => {
      const tail = existsSync(join(dir, 'console.log'))
        ? readFileSync(join(dir, 'console.log'), 'utf8').trim().split('\n').slice(-3).join(' | ')
        : '';
      return new Error(
        `systemd suite: cannot boot systemd ${version} in a container: ${why}${tail ? ` (console: ${tail})` : ''}`,
      );
    };
    let pid1: number;
    try {
      pid1 = await waitForPid1(nspawn, 15_000);
    } catch (err) {
      nspawn.kill('SIGKILL');
      throw failed((err as Error).message);
    }
    const container = new Container(version, dir, root, nspawn, pid1, cgroup);
    // PID 1 is found before it listens on its private socket: ask again until it answers.
    let state = await container.exec(['systemctl', 'is-system-running', '--wait'], { timeoutMs: 60_000 });
    for (
      const deadline = Date.now() + 30_000;
      /Failed to connect/.test(state.stderr) && Date.now() < deadline;
    ) {
      await new Promise((r) => setTimeout(r, 200));
      state = await container.exec(['systemctl', 'is-system-running', '--wait'], { timeoutMs: 60_000 });
    }
    if (!['running', 'degraded'].includes(state.stdout.trim())) {
      await container.destroy();
      throw failed(`state '${state.stdout.trim() || state.stderr.trim()}'`);
    }
    return container;
  }

  /** Run a command inside the container (all its namespaces), with a clean environment. */
  async exec(argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<Result> {
    const child = this.spawn(argv);
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    // A command that exits without reading its input (journalctl, systemctl) closes the pipe first:
    // that EPIPE says nothing about the command, whose exit status is what callers check.
    child.stdin!.on('error', () => {});
    if (opts.input === undefined) child.stdin!.end();
    else child.stdin!.end(opts.input);
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    const [code] = (await once(child, 'close')) as [number | null];
    clearTimeout(timer);
    return { code, stdout, stderr };
  }

  /** Like exec, but throws with the command's own words when it fails. */
  async run(argv: string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<string> {
    const r = await this.exec(argv, opts);
    if (r.code !== 0)
      throw new Error(
        `${argv.join(' ')} (systemd ${this.version}) exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`,
      );
    return r.stdout;
  }

  /** A long-running process inside the container (a client that streams, say); the caller ends it. */
  spawn(argv: string[]): ChildProcess {
    return spawn(
      'nsenter',
      [
        '-t',
        String(this.pid1),
        '-m',
        '-u',
        '-i',
        '-n',
        '-p',
        '--',
        'env',
        '-i',
        ...Object.entries(CLEAN_ENV).map(([k, v]) => `${k}=${v}`),
        ...argv,
      ],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
  }

  systemctl(...args: string[]): Promise<string> {
    return this.run(['systemctl', ...args], { timeoutMs: 60_000 });
  }

  /** `systemctl show` properties as a record. */
  async show(unit: string, ...props: string[]): Promise<Record<string, string>> {
    const out = await this.run(['systemctl', 'show', unit, ...props.map((p) => `--property=${p}`)]);
    return Object.fromEntries(
      out
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const eq = line.indexOf('=');
          return [line.slice(0, eq), line.slice(eq + 1)];
        }),
    );
  }

  async journal(...args: string[]): Promise<string> {
    return (await this.exec(['journalctl', '--no-pager', '-o', 'short-monotonic', ...args])).stdout;
  }

  /**
   * SIGKILL the container's PID 1 (which ends everything in its pid namespace; a throw-away copy
   * needs no orderly halt), wait for nspawn to exit (SIGKILL it by pid if it lingers), remove the copy.
   */
  async destroy(): Promise<void> {
    if (this.nspawn.exitCode === null && this.nspawn.signalCode === null) {
      const exited = once(this.nspawn, 'exit');
      try {
        process.kill(this.pid1, 'SIGKILL');
      } catch {
        // already gone
      }
      const timer = setTimeout(() => this.nspawn.kill('SIGKILL'), KILL_WAIT_MS);
      await exited;
      clearTimeout(timer);
    }
    await removeCgroup(this.cgroup);
    // A copy of a whole root: tens of thousands of files, slow on a loaded disk.
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** The container's PID 1 is the child of the nspawn process that boot.sh exec'd into. */
async function waitForPid1(nspawn: ChildProcess, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (nspawn.exitCode !== null || nspawn.signalCode !== null)
      throw new Error(`systemd-nspawn exited (${nspawn.exitCode ?? nspawn.signalCode})`);
    const children = readChildren(nspawn.pid!);
    for (const child of children) {
      const comm = readFileSync(`/proc/${child}/comm`, 'utf8').trim();
      if (comm === 'systemd' || comm === 'init') return child;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no systemd in the container after ${timeoutMs} ms`);
}

function readChildren(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8')
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(Number),
    );
  } catch {
    return [];
  }
}

/**
 * The container's systemd made sub-cgroups below ours; remove them deepest first. The processes
 * of a killed pid namespace die asynchronously, so a busy cgroup is retried for a few seconds.
 */
async function removeCgroup(name: string): Promise<void> {
  const deadline = Date.now() + CGROUP_WAIT_MS;
  for (const hierarchy of ['systemd', 'unified']) {
    const top = `/sys/fs/cgroup/${hierarchy}/${name}`;
    const dirs: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true }))
        if (entry.isDirectory()) walk(join(dir, entry.name));
      dirs.push(dir);
    };
    if (existsSync(top)) walk(top);
    for (const dir of dirs) {
      for (;;) {
        try {
          rmdirSync(dir);
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EBUSY' || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
  }
}
