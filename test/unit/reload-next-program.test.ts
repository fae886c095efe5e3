/** What a reload execs: the env file's settings replace the old ones, --listen is not repeated. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nextProgram, parseEnvFile, withoutListen } from '../../src/reload/next-program.js';
import { tempDir } from '../helpers/net.js';

describe('reload: the next program', () => {
  it('reads EnvironmentFile= lines: comments, quotes, export', () => {
    expect(
      parseEnvFile('# c\n; c\n\nA=1\nexport B="two words"\nC=\'x y\'\nD = "q\\"q"\nnot a line\n'),
    ).toEqual({ A: '1', B: 'two words', C: 'x y', D: 'q"q' });
  });

  it('drops --listen in every spelling, and nothing after --', () => {
    expect(
      withoutListen(['--listen', 'a:1', '-l', 'b:2', '--listen=c:3', '-ld:4', '-c', '5', '--', '-l']),
    ).toEqual(['-c', '5', '--', '-l']);
  });

  it('takes BACKEND and SOCKRELAY_* from the env file, unsetting what it no longer says', () => {
    const dir = tempDir();
    try {
      const conf = join(dir.path, 'x.conf');
      writeFileSync(conf, 'BACKEND=127.0.0.1:2\nSOCKRELAY_LOG_LEVEL=debug\n');
      const next = nextProgram(
        {
          execPath: '/usr/bin/node',
          execArgv: ['--no-warnings'],
          script: '/usr/local/bin/sockrelay',
          args: ['--reload-env-file', conf, '127.0.0.1:1'],
          operand: '127.0.0.1:1',
          reloadEnvFile: conf,
        },
        { PATH: '/bin', BACKEND: '127.0.0.1:1', SOCKRELAY_CONNECTIONS_MAX: '9', SOCKRELAY_DEBUG: '1' },
      );
      expect(next.argv).toEqual([
        '/usr/bin/node',
        '--no-warnings',
        '/usr/local/bin/sockrelay',
        '--reload-env-file',
        conf,
        '127.0.0.1:2',
      ]);
      expect(next.env).toEqual({
        PATH: '/bin',
        BACKEND: '127.0.0.1:2',
        SOCKRELAY_LOG_LEVEL: 'debug',
        SOCKRELAY_DEBUG: '1',
        SOCKRELAY_RELOAD_ENV_FILE: conf,
      });
    } finally {
      dir.remove();
    }
  });

  it('keeps an operand typed on the command line (not from $BACKEND)', () => {
    const dir = tempDir();
    try {
      const conf = join(dir.path, 'x.conf');
      writeFileSync(conf, 'BACKEND=127.0.0.1:2\n');
      const next = nextProgram(
        {
          execPath: '/n',
          execArgv: [],
          script: '/s',
          args: ['127.0.0.1:1'],
          operand: '127.0.0.1:1',
          reloadEnvFile: conf,
        },
        {},
      );
      expect(next.argv).toEqual(['/n', '/s', '127.0.0.1:1']);
    } finally {
      dir.remove();
    }
  });
});
