/**
 * Speaking to journald through stderr.
 *
 * Under systemd, stderr is usually a stream to journald, and $JOURNAL_STREAM names it as
 * "device:inode". journald gives every line on such a stream priority 6 (info) unless the line
 * opens with the `<N>` prefix of sd-daemon(3). So when fd 2 is that stream, each line gets the
 * prefix of its level, and the fields journald records itself (pid, time, hostname) are left
 * out. When stderr is anything else, nothing changes: plain JSON lines, as before.
 */
import { fstatSync } from 'node:fs';
import { escapeControl } from './one-line.js';

/** syslog(3) priorities, as journalctl -p names them. */
export const Priority = { crit: 2, err: 3, warning: 4, info: 6, debug: 7 } as const;

/** True when fd is the journal stream systemd connected ($JOURNAL_STREAM is its "dev:ino"). */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv): boolean {
  const match = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (!match) return false;
  try {
    const stat = fstatSync(fd, { bigint: true });
    return stat.dev === BigInt(match[1]!) && stat.ino === BigInt(match[2]!);
  } catch {
    return false;
  }
}

/** pino's numeric level (trace 10 … fatal 60) as a syslog priority. */
export function priorityOfLevel(level: number): number {
  if (level >= 60) return Priority.crit;
  if (level >= 50) return Priority.err;
  if (level >= 40) return Priority.warning;
  if (level >= 30) return Priority.info;
  return Priority.debug;
}

/** Every line of text opened with `<priority>`, so journald files each one at that priority. */
export function withPriority(text: string, priority: number): string {
  return text.replace(/^(?=.)/gm, `<${priority}>`);
}

const LEVEL_FIELD = /^\{"level":(\d+)/;

/** One pino JSON line with the prefix of its own level (pino writes "level" first). */
export function prefixPinoLine(line: string): string {
  const level = LEVEL_FIELD.exec(line);
  return `<${level ? priorityOfLevel(Number(level[1])) : Priority.info}>${line}`;
}

/**
 * How cli.ts writes a start-up error that ends the process: one line whatever the message quotes
 * (its control characters escaped, see one-line.ts), at priority err when stderr is the journal.
 */
export function fatalText(text: string, env: NodeJS.ProcessEnv = process.env, fd = 2): string {
  const line = `${escapeControl(text.replace(/\n$/, ''))}\n`;
  return isJournalStream(fd, env) ? withPriority(line, Priority.err) : line;
}
