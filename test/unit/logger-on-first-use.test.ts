import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createLoggerOnFirstUse, LOG_LEVELS } from '../../src/logger.js';

/** A real file standing in for stderr. */
function stderrFile() {
  const dir = mkdtempSync(join(tmpdir(), 'sockrelay-logger-'));
  const path = join(dir, 'stderr');
  const fd = openSync(path, 'w');
  cleanups.push(() => {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  return { fd, lines: () => readFileSync(path, 'utf8').split('\n').filter(Boolean) };
}
const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((f) => f()));

describe('the daemon logger, made on first use', () => {
  it('answers isLevelEnabled as pino does, for every level, before and after it is made', () => {
    const asked = [...LOG_LEVELS, 'verbose'];
    for (const level of LOG_LEVELS) {
      const err = stderrFile();
      const logger = createLoggerOnFirstUse(level, err.fd, {});
      const reference = pino({ level });
      const answers = () => asked.map((a) => [a, logger.isLevelEnabled(a)]);
      const expected = asked.map((a) => [a, reference.isLevelEnabled(a)]);
      expect(answers(), `before, at ${level}`).toEqual(expected);
      expect(err.lines()).toEqual([]);
      logger.fatal('made');
      expect(answers(), `after, at ${level}`).toEqual(expected);
    }
  });

  it('writes the lines pino writes, at its level, with pid and time', () => {
    const err = stderrFile();
    const logger = createLoggerOnFirstUse('info', err.fd, {});
    logger.debug('not at info');
    logger.info({ listeners: 2 }, 'sockrelay started');
    logger.warn('twice');
    const lines = err.lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toMatchObject([
      { level: 30, msg: 'sockrelay started', listeners: 2, pid: process.pid },
      { level: 40, msg: 'twice' },
    ]);
    expect(Date.parse(String(lines[0]!.time))).not.toBeNaN();
  });

  it('is one logger: a level set through it holds for every later line', () => {
    const err = stderrFile();
    const logger = createLoggerOnFirstUse('info', err.fd, {});
    logger.level = 'debug';
    logger.debug('now shown');
    expect(logger.isLevelEnabled('debug')).toBe(true);
    expect(err.lines().map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['now shown']);
  });
});
