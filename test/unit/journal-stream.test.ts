import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { fatalText, priorityOfLevel, withPriority } from '../../src/logging/journal-stream.js';

/** A real file standing in for stderr; $JOURNAL_STREAM names it (or something else) by dev:ino. */
function stderrFile() {
  const dir = mkdtempSync(join(tmpdir(), 'sockrelay-journal-'));
  const path = join(dir, 'stderr');
  const fd = openSync(path, 'w');
  const st = statSync(path);
  cleanups.push(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    fd,
    read: () => readFileSync(path, 'utf8'),
    journalEnv: { JOURNAL_STREAM: `${st.dev}:${st.ino}` },
  };
}
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((f) => f()));

describe('logs when stderr is the journal', () => {
  it('each pino line opens with the syslog priority of its level, and leaves out pid and time', () => {
    const err = stderrFile();
    const logger = createLogger('trace', err.fd, err.journalEnv);
    logger.trace('t');
    logger.debug('d');
    logger.info({ port: 80 }, 'i');
    logger.warn('w');
    logger.error('e');
    logger.fatal('f');
    const lines = err.read().trimEnd().split('\n');
    expect(lines.map((l) => l.slice(0, 3))).toEqual(['<7>', '<7>', '<6>', '<4>', '<3>', '<2>']);
    const info = JSON.parse(lines[2]!.slice(3)) as Record<string, unknown>;
    expect(info).toEqual({ level: 30, port: 80, msg: 'i' });
  });

  it('outside the journal (JOURNAL_STREAM unset, or naming another file) the JSON lines stay as they were', () => {
    for (const env of [{}, { JOURNAL_STREAM: '1:2' }]) {
      const err = stderrFile();
      createLogger('info', err.fd, env).warn({ code: 'ENOENT' }, 'w');
      const line = JSON.parse(err.read()) as Record<string, unknown>;
      expect(line).toMatchObject({ level: 40, pid: process.pid, code: 'ENOENT', msg: 'w' });
      expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
  });

  it('a fatal start-up error is at priority err in the journal, unchanged elsewhere', () => {
    const err = stderrFile();
    expect(fatalText('sockrelay: bad flag\n', err.journalEnv, err.fd)).toBe('<3>sockrelay: bad flag\n');
    expect(fatalText('sockrelay: bad flag\n', {}, err.fd)).toBe('sockrelay: bad flag\n');
    expect(withPriority('a\nb\n', 3)).toBe('<3>a\n<3>b\n');
  });

  it('maps every pino level to its syslog priority', () => {
    expect([10, 20, 30, 40, 50, 60].map(priorityOfLevel)).toEqual([7, 7, 6, 4, 3, 2]);
  });
});
