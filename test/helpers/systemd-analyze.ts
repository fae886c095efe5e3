/**
 * `systemd-analyze` against a throwaway root, as the unit tests use it.
 *
 * Why `--root`: verify checks that each ExecStart= binary exists and is executable, and
 * /usr/local/bin/sockrelay is not installed on a development machine. Instead of rewriting ExecStart=,
 * each test builds a throwaway root: the host's own system units (so sockets.target, sysinit.target …
 * resolve exactly as on the host), our units under etc/systemd/system unchanged, and executable stand-ins
 * at the paths our ExecStart= lines name. What is verified is byte for byte what users copy.
 */
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, realpath, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export const SOCKRELAY = '/usr/local/bin/sockrelay';
/** Binaries our ExecStart=/ExecReload= lines may name; the test root gets an executable stand-in for each. */
const STAND_INS = [SOCKRELAY, '/usr/local/bin/heavy-backend', '/bin/sh'];
const HOST_UNIT_DIRS = ['/usr/lib/systemd/system', '/lib/systemd/system'];
const CALL_TIMEOUT_MS = 20_000;

/** Fixed log settings, so a SYSTEMD_LOG_LEVEL=debug in the caller's environment cannot fill stderr. */
const ANALYZE_ENV = {
  ...process.env,
  SYSTEMD_LOG_LEVEL: 'info',
  SYSTEMD_LOG_TARGET: 'console',
  SYSTEMD_COLORS: '0',
};

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and reports its exit status; only a failure to spawn or a timeout rejects. */
export function run(file: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: CALL_TIMEOUT_MS, killSignal: 'SIGKILL', env: ANALYZE_ENV, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(new Error(`${file} ${args.join(' ')}: ${error.message}`, { cause: error }));
          return;
        }
        resolve({ code: error ? (error.code as number) : 0, signal: error?.signal ?? null, stdout, stderr });
      },
    );
  });
}

export const verify = (root: string, unit: string): Promise<RunResult> =>
  run('systemd-analyze', ['verify', `--root=${root}`, unit]);

/**
 * A throwaway file system root holding the host's system units, our units (unchanged, or as given) and
 * stand-in executables. Returns its path; the caller removes it.
 */
export async function buildRoot(units: ReadonlyMap<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'sockrelay-units-'));
  const copied = new Set<string>();
  for (const dir of HOST_UNIT_DIRS) {
    const real = await realpath(dir).catch(() => undefined);
    if (real === undefined || copied.has(real)) continue;
    copied.add(real);
    await cp(real, join(root, dir), { recursive: true, verbatimSymlinks: true });
  }
  if (copied.size === 0) throw new Error(`no system unit directory found (${HOST_UNIT_DIRS.join(', ')})`);
  const etc = join(root, 'etc/systemd/system');
  await mkdir(etc, { recursive: true });
  for (const [name, text] of units) {
    // Drop-ins (NAME.service.d/x.conf) live in a directory of their own.
    await mkdir(dirname(join(etc, name)), { recursive: true });
    await writeFile(join(etc, name), text);
  }
  for (const bin of STAND_INS) {
    await mkdir(join(root, bin, '..'), { recursive: true });
    await writeFile(join(root, bin), '#!/bin/sh\nexit 0\n');
    await chmod(join(root, bin), 0o755);
  }
  return root;
}
