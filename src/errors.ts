/**
 * Errors with stable codes. Every failure the user can cause maps to one class
 * here and to a sysexits(3) exit code, so scripts and unit files can tell a
 * typo (64) from a broken environment (78) without parsing messages.
 */

export const ExitCode = {
  ok: 0,
  /** EX_USAGE: the command line is wrong. */
  usage: 64,
  /** EX_UNAVAILABLE: the native addon is missing for this machine (`npm rebuild sockrelay` builds it). */
  unavailable: 69,
  /** EX_SOFTWARE: a bug in sockrelay. */
  software: 70,
  /** EX_OSERR: the system refused something sockrelay needs (bind, epoll…). */
  osError: 71,
  /** EX_CONFIG: the environment or sockets handed over do not fit. */
  config: 78,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class SockrelayError extends Error {
  readonly code: string;
  readonly exitCode: ExitCode;
  constructor(code: string, message: string, exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** The command line is malformed: unknown flag, bad span, bad address, out-of-range number. */
export class UsageError extends SockrelayError {
  constructor(code: string, message: string) {
    super(code, message, ExitCode.usage);
  }
}

/** The command line parses, but what it asks for does not fit the sockets or environment given. */
export class ConfigError extends SockrelayError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, ExitCode.config, options);
  }
}

/** A system call needed to start failed (binding a --listen address, for instance). */
export class StartupError extends SockrelayError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, ExitCode.osError, options);
  }
}

/** Node-style system error fields, when present. */
export function errnoCode(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return 'UNKNOWN';
}
