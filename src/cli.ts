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
import { routeSignals } from './lifecycle/signals.js';
import { fatalText } from './logging/journal-stream.js';
import { loadNative, requireNative } from './native/binding.js';
import { PACKAGE_ROOT } from './package-files.js';
import { logCodeCache, startPathCompiled } from './launch/code-cache-state.js';
import { EnvironmentCommand } from './operator/env-options.js';
import { addOperatorCommands } from './operator/commands.js';

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
  // The addon is the data plane: without it refuse to start (69), saying what builds it. The check
  // a reload runs (--check-config) loads it too: a reload onto an install whose addon no longer
  // loads is refused while the running process serves on.
  requireNative();
  if (options.checkConfig) return ExitCode.ok;
  const logger = createLoggerOnFirstUse(config.logLevel);
  // From here no stop or reload ends the process unheard: they wait for the daemon to serve.
  const signals = routeSignals(process, logger);
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
      // Stop and reload are one state machine (src/reload/reload.ts), loaded once serving.
      void import('./reload/reload.js').then(({ stopAndReload }) =>
        signals.setRoutes(stopAndReload(running, serving, process.env, logger)),
      );
      logCodeCache(logger);
      // Runs after the engines start (it loads node:inspector: milliseconds the first client need not wait).
      void closeUnrequestedInspector(logger);
    },
    logger,
    native: loadNative(),
    env: process.env,
    pid: process.pid,
    version,
  });
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
