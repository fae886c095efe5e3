/**
 * The sd_listen_fds(3) protocol, as a pure function of the environment.
 *
 * systemd passes N sockets as fds 3…3+N-1 and says so in LISTEN_FDS, but the
 * variables are inherited by every descendant, so LISTEN_PID (and, since
 * systemd 258, LISTEN_PIDFDID: the inode of the intended process's pidfd,
 * immune to pid reuse) say whom they are meant for. Fds meant for another
 * process are not ours and must be left alone. The caller removes the
 * variables afterwards in every case, so our own children never see them.
 */
import { ConfigError } from '../errors.js';

export const SD_LISTEN_FDS_START = 3;
export const LISTEN_ENV_VARS = ['LISTEN_PID', 'LISTEN_PIDFDID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const;

export interface ListenedFd {
  fd: number;
  /** From LISTEN_FDNAMES (FileDescriptorName=); 'unknown' when not named. */
  name: string;
}

export type ListenFdsResult =
  | { ours: true; fds: ListenedFd[] }
  | { ours: false; reason: 'not-activated' | 'pid-mismatch' | 'pidfd-mismatch' };

export interface Self {
  pid: number;
  /** Inode number of our own pidfd as a decimal string, or null when it cannot be had. */
  pidfdId: string | null;
}

const DECIMAL = /^[0-9]+$/;

function parseCount(value: string, name: string): number {
  const n = DECIMAL.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new ConfigError('ERR_LISTEN_ENV', `${name}='${value}' is not a non-negative integer`);
  }
  return n;
}

export function parseListenFds(env: NodeJS.ProcessEnv, self: Self): ListenFdsResult {
  const pidText = env.LISTEN_PID;
  if (pidText === undefined) return { ours: false, reason: 'not-activated' };
  if (parseCount(pidText, 'LISTEN_PID') !== self.pid) return { ours: false, reason: 'pid-mismatch' };

  const pidfdIdText = env.LISTEN_PIDFDID;
  if (pidfdIdText !== undefined) {
    if (!DECIMAL.test(pidfdIdText)) {
      throw new ConfigError(
        'ERR_LISTEN_ENV',
        `LISTEN_PIDFDID='${pidfdIdText}' is not a non-negative integer`,
      );
    }
    // Compared as decimal strings: inode numbers may exceed 2^53.
    if (self.pidfdId !== null && BigInt(pidfdIdText) !== BigInt(self.pidfdId)) {
      return { ours: false, reason: 'pidfd-mismatch' };
    }
  }

  const count = parseCount(env.LISTEN_FDS ?? '0', 'LISTEN_FDS');
  const maxCount = 65_536;
  if (count > maxCount) throw new ConfigError('ERR_LISTEN_ENV', `LISTEN_FDS=${count} is implausibly large`);

  const namesText = env.LISTEN_FDNAMES;
  let names: string[];
  if (namesText === undefined) {
    names = Array.from({ length: count }, () => 'unknown');
  } else {
    names = count === 0 && namesText === '' ? [] : namesText.split(':');
    if (names.length !== count) {
      throw new ConfigError(
        'ERR_LISTEN_ENV',
        `LISTEN_FDNAMES has ${names.length} name(s) but LISTEN_FDS=${count}: they must match`,
      );
    }
  }
  return {
    ours: true,
    fds: names.map((name, i) => ({ fd: SD_LISTEN_FDS_START + i, name: name === '' ? 'unknown' : name })),
  };
}

export function unsetListenEnv(env: NodeJS.ProcessEnv): void {
  for (const name of LISTEN_ENV_VARS) delete env[name];
}
