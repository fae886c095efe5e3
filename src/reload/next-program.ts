/**
 * What a reload starts: the same program path (so an upgraded install runs its new code), with
 * the settings the operator has now. Without --reload-env-file these are the process's own
 * arguments and environment. With it (the template unit's /etc/sockrelay/%i.conf, which is also
 * its EnvironmentFile=), BACKEND and every SOCKRELAY_* variable come from the file as it reads
 * now: a line removed there is unset here, and BACKEND replaces the BACKEND operand
 * that came from it.
 *
 * --listen is not repeated: the sockets it bound are passed on as LISTEN_FDS, and binding
 * them again would fail with EADDRINUSE. For the same reason the listeners are the running
 * process's own: an env file whose SOCKRELAY_LISTEN differs from the one it started with
 * refuses the reload (saying to restart), rather than reload into settings the conf does not
 * state — a reload that said it succeeded while the conf lies would be found out only later.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

export interface RunningProgram {
  execPath: string;
  execArgv: string[];
  /** process.argv[1]: the script, as it was named (a symlink stays a symlink). */
  script: string;
  /** The arguments after the script. */
  args: string[];
  /** The BACKEND operand as commander parsed it, when one was given. */
  operand: string | undefined;
  reloadEnvFile: string | undefined;
}

export interface NextProgram {
  path: string;
  /** argv[0] included. */
  argv: string[];
  env: Record<string, string>;
}

/** Variables that are settings, replaced as a whole by the env file's. */
const isSetting = (name: string): boolean =>
  (name.startsWith('SOCKRELAY_') || name === 'BACKEND') && name !== 'SOCKRELAY_DEBUG';

/**
 * VAR=value lines as systemd's EnvironmentFile= reads them, for the simple files sockrelay
 * documents: comments (# ;), blank lines, optional `export`, one level of '…' or "…" quotes.
 */
export function parseEnvFile(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2]!;
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.length >= 2 && value.endsWith(quote))
      value = value.slice(1, -1);
    if (quote === '"') value = value.replace(/\\(["\\$`])/g, '$1');
    vars[match[1]!] = value;
  }
  return vars;
}

/** Arguments without --listen/-l and their values: those sockets are inherited instead. */
export function withoutListen(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return [...out, ...args.slice(i)];
    if (arg === '--listen' || arg === '-l') i++;
    else if (!arg.startsWith('--listen=') && !/^-l.+/.test(arg)) out.push(arg);
  }
  return out;
}

function readSettings(path: string): Record<string, string> {
  try {
    return parseEnvFile(readFileSync(path, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError('ERR_RELOAD_ENV_FILE', `--reload-env-file ${path}: cannot read it (${code})`);
  }
}

/** SOCKRELAY_LISTEN as a set of addresses, so spacing and order do not count as a change. */
const listenSet = (value: string | undefined): string =>
  [...new Set((value ?? '').split(/\s+/).filter((v) => v !== ''))].sort().join(' ');

export function nextProgram(running: RunningProgram, env: NodeJS.ProcessEnv): NextProgram {
  const nextEnv: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) nextEnv[name] = value;
  delete nextEnv.SOCKRELAY_LISTEN;
  let args = withoutListen(running.args);
  if (running.reloadEnvFile !== undefined) {
    const settings = readSettings(running.reloadEnvFile);
    if (listenSet(settings.SOCKRELAY_LISTEN) !== listenSet(env.SOCKRELAY_LISTEN))
      throw new ConfigError(
        'ERR_RELOAD_LISTEN',
        `--reload-env-file ${running.reloadEnvFile}: SOCKRELAY_LISTEN changed ('${listenSet(env.SOCKRELAY_LISTEN)}' → '${listenSet(settings.SOCKRELAY_LISTEN)}'); the listeners stay the running process's: restart to change them`,
      );
    delete settings.SOCKRELAY_LISTEN;
    for (const name of Object.keys(nextEnv)) if (isSetting(name)) delete nextEnv[name];
    Object.assign(nextEnv, settings);
    // An operand equal to $BACKEND came from ExecStart='s $BACKEND: it follows the file. Only then.
    const fromFile = running.operand !== undefined && running.operand === env.BACKEND;
    const at = fromFile ? args.lastIndexOf(running.operand!) : -1;
    if (at >= 0) args = args.filter((_, i) => i !== at);
    if (at >= 0 || running.operand === undefined)
      if (settings.BACKEND !== undefined && settings.BACKEND !== '') args = [...args, settings.BACKEND];
    // What the unit's Environment= or the command line says about it stays.
    nextEnv.SOCKRELAY_RELOAD_ENV_FILE = running.reloadEnvFile;
  }
  return {
    path: running.execPath,
    argv: [running.execPath, ...running.execArgv, running.script, ...args],
    env: nextEnv,
  };
}
