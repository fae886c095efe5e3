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
