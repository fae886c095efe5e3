/**
 * The man page and the shell completions are generated from the commander definitions behind
 * --help; these tests hold them to that: every option --help lists is in the rendered page, the
 * page renders without groff warnings, and real shells load the completion scripts and complete.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/net.js';
import { cliStdout, runCliSync } from '../helpers/proxy.js';
import { has } from '../helpers/requires.js';

const PACKAGE = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  man: string[];
  scripts: Record<string, string>;
};

function sh(file: string, args: string[], input?: string) {
  const result = spawnSync(file, args, { encoding: 'utf8', timeout: 20_000, input });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Every flag and environment variable --help shows for a command, help and version included. */
function helpWords(args: string[]): string[] {
  const help = cliStdout([...args, '--help']);
  const options = help.slice(help.indexOf('Options:'), help.search(/\n(Commands|Examples):|$/));
  return [...options.matchAll(/(?<![\w-])(--?[a-z][\w-]*|SOCKRELAY_\w+)/g)].map((m) => m[1]!);
}

describe('man page sockrelay(8)', () => {
  const page = runCliSync(['man']);
  /** What a reader sees: rendered as plain text, wide enough that no flag is broken across lines. */
  const rendered = () => sh('groff', ['-man', '-Tascii', '-P-cbou', '-rLL=200n', '-ww'], page.stdout);

  it('is what the build installs: package.json "man" names the file `npm run build` writes', () => {
    expect(page).toMatchObject({ code: 0, stderr: '' });
    expect(PACKAGE.man).toEqual(['./dist/sockrelay.8']);
    expect(PACKAGE.scripts['build:man']).toBe('node dist/cli.js man > dist/sockrelay.8');
    expect(PACKAGE.scripts.postbuild).toContain('build:man');
    expect(PACKAGE.scripts.postprepare).toContain('build:man');
  });

  it.skipIf(!has('groff'))('renders without a single groff warning', () => {
    const result = sh('groff', ['-man', '-Tutf8', '-ww', '-z'], page.stdout);
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
    // The check can fail: a broken request is reported.
    expect(sh('groff', ['-man', '-Tutf8', '-ww', '-z'], `${page.stdout}.RS bogus\n`).stderr).not.toBe('');
  });

  it.skipIf(!has('groff'))(
    'shows every option and variable that --help shows, for the proxy and each subcommand',
    () => {
      const text = rendered();
      expect(text.stderr).toBe('');
      const words = [...helpWords([]), ...['units', 'completion', 'man'].flatMap((sub) => helpWords([sub]))];
      expect(words).toContain('--exit-idle-time');
      expect(words).toContain('SOCKRELAY_EXIT_IDLE_TIME');
      expect(words).toContain('--on-demand');
      for (const word of new Set(words))
        expect({ word, found: text.stdout.includes(word) }).toEqual({ word, found: true });
      expect(text.stdout).toMatch(/^SYNOPSIS\n\s+sockrelay \[options\] \[BACKEND\]$/m);
      expect(text.stdout).toContain('sockrelay --exit-idle-time=5min 127.0.0.1:8080');
    },
  );

  it.skipIf(!has('man', 'groff'))('opens in man(1) as section 8', () => {
    const dir = tempDir('sockrelay-man-');
    try {
      const file = join(dir.path, 'sockrelay.8');
      writeFileSync(file, page.stdout);
      const result = spawnSync('man', ['-l', file], {
        encoding: 'utf8',
        timeout: 20_000,
        env: { ...process.env, MANWIDTH: '120', MANPAGER: 'cat', PAGER: 'cat' },
      });
      expect(result.status).toBe(0);
      expect(result.stdout).toMatch(/^SOCKRELAY\(8\)/);
    } finally {
      dir.remove();
    }
  });
});

describe('shell completion', () => {
  let dir: ReturnType<typeof tempDir>;
  let bashScript = '';
  let zshScript = '';
  beforeAll(() => {
    dir = tempDir('sockrelay-completion-');
    bashScript = join(dir.path, 'sockrelay.bash');
    zshScript = join(dir.path, '_sockrelay');
    writeFileSync(bashScript, cliStdout(['completion', 'bash']));
    writeFileSync(zshScript, cliStdout(['completion', 'zsh']));
  });
  afterAll(() => dir.remove());

  /** What bash offers after the words typed so far (the last one is being completed). */
  function bashComplete(...typed: string[]): string[] {
    const words = ['sockrelay', ...typed].map((w) => `'${w}'`).join(' ');
    const script = `source '${bashScript}'
spec=$(complete -p sockrelay) || exit 3
fn=\${spec#*-F }; fn=\${fn%% *}
COMP_WORDS=(${words}); COMP_CWORD=${typed.length}
"$fn"
printf '%s\\n' "\${COMPREPLY[@]}"`;
    const result = sh('bash', ['--norc', '--noprofile', '-c', script]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    return result.stdout.split('\n').filter((line) => line !== '');
  }

  it('bash: `sockrelay --exit-` completes to --exit-idle-time', () => {
    expect(bashComplete('--exit-')).toEqual(['--exit-idle-time']);
  });

  it('bash: choices, subcommands and subcommand options', () => {
    expect(bashComplete('--log-level', 'de')).toEqual(['debug']);
    expect(bashComplete('un')).toEqual(['units']);
    expect(bashComplete('units', '--on')).toEqual(['--on-demand']);
    expect(bashComplete('completion', 'z')).toEqual(['zsh']);
    // A value without fixed choices offers nothing of ours (bash falls back to file names).
    expect(bashComplete('--exit-idle-time', '')).toEqual([]);
  });

  it('bash: offers every flag --help lists', () => {
    const offered = bashComplete('-');
    for (const flag of helpWords([]).filter((w) => w.startsWith('-'))) expect(offered).toContain(flag);
  });

  it.skipIf(!has('zsh'))(
    'zsh: the script parses, registers for sockrelay under compinit, and names every flag',
    () => {
      expect(sh('zsh', ['-n', zshScript])).toEqual({ code: 0, stdout: '', stderr: '' });
      const loaded = sh('zsh', [
        '-f',
        '-c',
        `autoload -U compinit && compinit -u -D && source '${zshScript}' && print -r -- $_comps[sockrelay]`,
      ]);
      expect(loaded).toEqual({ code: 0, stdout: '_sockrelay\n', stderr: '' });
      const text = readFileSync(zshScript, 'utf8');
      for (const flag of helpWords([]).filter((w) => w.startsWith('--'))) expect(text).toContain(`${flag}`);
    },
  );
});
