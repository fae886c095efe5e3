/**
 * pino JSON lines on stderr. Written synchronously: sockrelay logs little, and a
 * process that exits on idle must not lose its last lines in an async buffer.
 * When stderr is the journal, each line carries its syslog priority and leaves out
 * what journald records anyway (see logging/journal-stream.ts).
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { isJournalStream, prefixPinoLine } from './logging/journal-stream.js';

export type { Logger };
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel, fd = 2, env: NodeJS.ProcessEnv = process.env): Logger {
  const destination = pino.destination({ dest: fd, sync: true });
  if (isJournalStream(fd, env)) {
    const journal: DestinationStream = { write: (line) => destination.write(prefixPinoLine(line)) };
    return pino({ level, base: null, timestamp: false }, journal);
  }
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/**
 * The daemon's logger, made when it first logs. A socket-activated start builds and starts its
 * engines before it says anything, so pino's set-up (its destination, the first timestamp:
 * milliseconds) runs while the first client is already relayed, not before. Every use forwards
 * to the one pino logger the first one made; isLevelEnabled, which the engine settings ask before
 * anything is said, is answered from the level alone.
 */
export function createLoggerOnFirstUse(
  level: LogLevel,
  fd = 2,
  env: NodeJS.ProcessEnv = process.env,
): Logger {
  let made: Logger | undefined;
  const logger = (): Logger => (made ??= createLogger(level, fd, env));
  // LOG_LEVELS runs from the most to the least severe; 'silent', last, is pino's Infinity.
  const severity = (name: string): number => {
    const rank = LOG_LEVELS.indexOf(name as LogLevel);
    return name === 'silent' ? Infinity : rank < 0 ? -Infinity : LOG_LEVELS.length - rank;
  };
  const isLevelEnabled = (asked: string): boolean =>
    made ? made.isLevelEnabled(asked) : severity(asked) >= severity(level);
  return new Proxy({} as Logger, {
    get(_, key) {
      if (key === 'isLevelEnabled') return isLevelEnabled;
      const real = logger();
      const value: unknown = Reflect.get(real, key, real);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(real) : value;
    },
    set: (_, key, value) => Reflect.set(logger(), key, value),
    has: (_, key) => Reflect.has(logger(), key),
  });
}
