/**
 * The command line: parse, validate, run the daemon, exit. The only place that
 * calls process.exit. Every failure the user can cause ends in one line on
 * stderr and a sysexits(3) code (64 usage, 69 no addon, 78 config, 71 OS), never a trace.
 */
// First: its import keeps SIGUSR1 from opening a debugger while the rest loads.
import { closeUnrequestedInspector } from './lifecycle/no-debugger.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { buildConfig, DEFAULTS, type RawOptions } from './config/config.js';
import { runDaemon } from './daemon.js';
import { ExitCode, SockrelayError } from './errors.js';
import { createLoggerOnFirstUse, LOG_LEVELS } from './logger.js';
import { holdSignals } from './lifecycle/signals.js';
import { fatalText } from './logging/journal-stream.js';
import { loadNative, requireNative } from './native/binding.js';
import { PACKAGE_ROOT } from './package-files.js';
import { logCodeCache, startPathCompiled } from './launch/code-cache-state.js';
import { EnvironmentCommand } from './operator/env-options.js';
import { addOperatorCommands } from './operator/commands.js';
import type { ReloadHandler } from './lifecycle/signals.js';

const version = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

const EXAMPLES = `
Examples:
  # as the ExecStart= of a service whose .socket unit listens on :80
  sockrelay --exit-idle-time=5min 127.0.0.1:8080

  # by hand, binding the listening socket itself
  sockrelay --listen 127.0.0.1:8000 --listen '[::1]:8000' /run/app.sock

  # two named sockets (FileDescriptorName=web / admin) to two backends
  sockrelay --route web=127.0.0.1:8080 --route admin=/run/admin.sock

  # tell the backend who the client is (nginx: listen 8080 proxy_protocol;)
  sockrelay --proxy-protocol=v2 127.0.0.1:8080
  sockrelay --route web=127.0.0.1:8080,proxy-protocol=v1 --route admin=/run/admin.sock
  sockrelay --transparent 203.0.113.2:8080   # the backend's accept() returns the client itself

  # try it under systemd's own activator
  systemd-socket-activate -l 127.0.0.1:8000 sockrelay --exit-idle-time=10s localhost:8080

BACKEND is HOST:PORT, [IPv6]:PORT, /path/to/unix.sock or @abstract-name.
Time spans follow systemd.time(7): 90, 500ms, 5min 20s, infinity.
Every option can also be set through the environment variable named after it (shown above);
repeatable ones take a space-separated list there. A flag wins over its variable.
Exit codes: 0 done (idle or signal), 64 bad usage, 69 native addon missing, 78 bad configuration,
71 system error.`;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function program(): Command {
  return new EnvironmentCommand('sockrelay')
    .description(
      'Socket-activated TCP/UDP proxy: forwards what arrives on the sockets systemd passes to BACKEND.',
    )
    .argument('[BACKEND]', 'where to forward: HOST:PORT, [IPv6]:PORT, /path.sock or @abstract')
    .option(
      '-c, --connections-max <N>',
      'open connections at most; more wait in the backlog',
      DEFAULTS.connectionsMax,
    )
    .option('--exit-idle-time <SPAN>', 'exit after this long with nothing open', DEFAULTS.exitIdleTime)
    .option(
      '--shutdown-timeout <SPAN>',
      'on SIGTERM, how long open connections may finish',
      DEFAULTS.shutdownTimeout,
    )
    .option(
      '--connect-timeout <SPAN>',
      'hold a client this long while the backend is not up yet',
      DEFAULTS.connectTimeout,
    )
    .option(
      '-l, --listen <ADDR>',
      'bind ADDR ourselves (repeatable; udp:HOST:PORT for UDP), for running without systemd',
      collect,
      [],
    )
    .option(
      '--route <NAME=BACKEND[,OPTION=VALUE]...>',
      'send fds named NAME (FileDescriptorName=) to BACKEND (repeatable), with its own proxy-protocol=V and transparent=yes|no',
      collect,
      [],
    )
    .option(
      '--proxy-protocol <VERSION>',
      'send a PROXY protocol header (v1, v2 or none) so the backend sees the real client',
      DEFAULTS.proxyProtocol,
    )
    .option(
      '--transparent',
      "bind each backend connection to the client's own address and port (IP_TRANSPARENT: needs CAP_NET_ADMIN and policy routing)",
    )
    .option(
      '--connection-idle-timeout <SPAN>',
      'close a connection idle both ways for SPAN',
      DEFAULTS.connectionIdleTimeout,
    )
    .option(
      '--keepalive <SPAN>',
      'TCP keepalive idle time towards both sides (infinity: off)',
      DEFAULTS.keepalive,
    )
    .option(
      '--udp-session-timeout <SPAN>',
      'end a UDP session after SPAN without datagrams',
      DEFAULTS.udpSessionTimeout,
    )
    .option(
      '--udp-sessions-max <N>',
      'UDP sessions at most; new clients beyond are dropped',
      DEFAULTS.udpSessionsMax,
    )
    .option(
      '--connections-per-source <N>',
      'TCP connections and UDP sessions per client source at most; more are reset (TCP) or dropped (UDP) at once (default: no limit)',
    )
    .option(
      '--connection-rate-per-source <N/SPAN>',
      'new connections and UDP sessions per client source, e.g. 20/1s (token bucket); faster ones are refused (default: no limit)',
    )
    .option(
      '--source-prefix4 <BITS>',
      'IPv4 clients sharing this many leading bits are one source for the per-source limits',
      DEFAULTS.sourcePrefix4,
    )
    .option(
      '--source-prefix6 <BITS>',
      'IPv6 clients sharing this many leading bits are one source (64: one customer network)',
      DEFAULTS.sourcePrefix6,
    )
    .option(
      '--metrics-listen <ADDR>',
      'serve Prometheus metrics at http://ADDR/metrics (or an fd named metrics)',
    )
    .option(
      '--metrics-textfile <PATH>',
      'keep metrics in a node_exporter textfile, continued across activations',
    )
    .option('--access-log', 'log one line per finished connection or UDP session (like tcplog)')
    .option('--pipe-size <BYTES>', 'splice pipe size per direction, once bulk', DEFAULTS.pipeSize)
    .addOption(new Option('--log-level <LEVEL>', 'log level').choices(LOG_LEVELS).default(DEFAULTS.logLevel))
    .option(
      '--reload-env-file <PATH>',
      "on reload (SIGHUP), take BACKEND and SOCKRELAY_* afresh from PATH (the unit's EnvironmentFile=)",
    )
    .option('--check-config', 'check the configuration and exit (typed only: no variable)')
    .version(version, '--version')
    .helpOption('-h, --help')
    .addHelpText('after', EXAMPLES)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      // Commander puts its "(Did you mean …?)" on a line of its own: one error is one line.
      outputError: (text, write) =>
        write(fatalText(`sockrelay: ${text.replace(/^error: /, '').replace(/\n(?=\(Did you mean)/, ' ')}`)),
    });
}

async function main(argv: string[]): Promise<number> {
  const cli = program();
  const operator = addOperatorCommands(cli);
  try {
    await cli.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    throw err;
  }
  if (operator.exitCode !== undefined) return operator.exitCode;
  const options = cli.opts<RawOptions & { checkConfig?: boolean; reloadEnvFile?: string }>();
  const config = buildConfig(cli.args[0], options);
  if (options.checkConfig) return ExitCode.ok;
  // The addon is the data plane: without it refuse to start (69), saying what builds it.
  const binding = requireNative();
  const logger = createLoggerOnFirstUse(config.logLevel);
  const signals = holdSignals(process, logger, process.env, (signal) =>
    binding.takeSignalsDuringExec(signal),
  );
  const running = {
    execPath: process.execPath,
    execArgv: process.execArgv,
    script: process.argv[1]!,
    args: process.argv.slice(2),
    operand: cli.args[0],
    reloadEnvFile: options.reloadEnvFile,
  };
  return runDaemon(config, {
    onServing: (serving) => {
      startPathCompiled();
      signals.setReload(
        onFirstUse(async () =>
          (await import('./reload/reload.js')).reloader(running, serving, process.env, process.pid, logger),
        ),
      );
      logCodeCache(logger);
      // Runs after the engines start (it loads node:inspector: milliseconds the first client need not wait).
      void closeUnrequestedInspector(logger);
    },
    logger,
    native: loadNative(),
    env: process.env,
    pid: process.pid,
    // SIGTERM/SIGINT as the run loop hears them: a reload under way may take one on to the next program.
    signals: signals.stops,
    version,
  });
}

/**
 * A reload handler made on the first SIGHUP: its code (handover, exec) is not loaded at start.
 * Once made, it decides about stops. A stop while it loads is shown to it first, so the SIGHUP
 * that made it finds a stopping process and does not reload; the run loop drains either way.
 */
function onFirstUse(make: () => Promise<ReloadHandler>): ReloadHandler {
  let made: Promise<ReloadHandler> | undefined;
  let reloader: ReloadHandler | undefined;
  let stopWhileLoading: NodeJS.Signals | undefined;
  const handler: ReloadHandler = (signal) => {
    made ??= make().then((r) => {
      if (stopWhileLoading) r.takeStop?.(stopWhileLoading);
      return (reloader = r);
    });
    void made.then((reload) => reload(signal));
  };
  handler.takeStop = (signal) => {
    if (reloader) return reloader.takeStop?.(signal) ?? false;
    if (made) stopWhileLoading ??= signal;
    return false;
  };
  return handler;
}

/** Socket-activated with a bad configuration: answer who waits before exiting (src/reload/answer-waiting.ts). */
async function exitWith(code: number): Promise<never> {
  if (code === ExitCode.usage || code === ExitCode.config)
    await (await import('./reload/answer-waiting.js')).answerWaitingClients(process.env, process.pid);
  process.exit(code);
}

main(process.argv).then(
  (code) => exitWith(code),
  (err: unknown) => {
    if (err instanceof SockrelayError) {
      process.stderr.write(fatalText(`sockrelay: ${err.message}\n`));
      return exitWith(err.exitCode);
    }
    process.stderr.write(
      fatalText(`sockrelay: internal error: ${err instanceof Error ? err.message : String(err)}\n`),
    );
    if (process.env.SOCKRELAY_DEBUG === '1' && err instanceof Error)
      process.stderr.write(fatalText(`${err.stack}\n`));
    process.exit(ExitCode.software);
  },
);
