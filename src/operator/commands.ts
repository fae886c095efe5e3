/**
 * The operator's subcommands: `sockrelay units` (write a proxy's .socket and conf), `sockrelay
 * completion bash|zsh`, `sockrelay man`, and `sockrelay stop-intent`, the units' root stop hook. Only their definitions live here; what they run is
 * imported when one is used, so none of it is on the proxy's start-up path (cold activation pays
 * for every module loaded before the first byte).
 *
 * The man page and completion scripts are generated from the root command itself, so they list
 * exactly the options --help lists.
 */
import { Argument, Command, Option } from 'commander';

export interface OperatorCommands {
  /** Set once a subcommand ran: the exit code it asks for. Undefined: run the proxy. */
  exitCode: number | undefined;
}

const SHELLS = ['bash', 'zsh'] as const;
export type Shell = (typeof SHELLS)[number];

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function addOperatorCommands(root: Command): OperatorCommands {
  const result: OperatorCommands = { exitCode: undefined };
  const done = (code: number): void => {
    result.exitCode = code;
  };
  // Commander hands operands to subcommands only when the root has an action of its own; the proxy
  // itself runs after parsing, from cli.ts, as before.
  root.action(() => undefined);
  root.enablePositionalOptions().helpCommand(false).usage('[options] [BACKEND]');

  root
    .command('units')
    .description('print (or --write) the .socket unit and conf file of one proxy run by sockrelay@.service')
    .argument('[BACKEND]', 'where the proxy forwards to (omit when SOCKRELAY_ROUTE is set in the conf)')
    .option('-l, --listen <ADDR>', 'address the socket unit listens on (repeatable)', collect, [])
    .option('--udp', 'listen for UDP datagrams on each address too (TCP and UDP)')
    .option('--name <NAME>', 'instance name: sockrelay@NAME.socket, NAME.conf (default: the first port)')
    .addOption(
      new Option('--on-demand <UNIT>', 'start UNIT with the proxy and stop it when the proxy exits idle'),
    )
    .option(
      '--public-facing',
      'clients come straight from the internet: per-source limits and an idle timeout (README recipe)',
    )
    .option('--write <DIR>', 'write the unit files into DIR (e.g. /etc/systemd/system) instead of printing')
    .option('--conf-dir <DIR>', 'with --write: where the conf goes', '/etc/sockrelay')
    .action(async (backend: string | undefined, options: Record<string, unknown>) => {
      const { runUnitsCommand } = await import('./units-command.js');
      done(await runUnitsCommand(root, backend, options));
    });

  root
    .command('completion')
    .description('print a shell completion script: source <(sockrelay completion bash)')
    .addArgument(new Argument('<SHELL>', 'bash or zsh').choices(SHELLS))
    .action(async (shell: Shell) => {
      const { completionScript } = await import('./completion.js');
      process.stdout.write(completionScript(root, shell));
      done(0);
    });

  root
    .command('man')
    .description('print the sockrelay(8) manual page (roff); npm installs it as man 8 sockrelay')
    .action(async () => {
      const { manPage } = await import('./man-page.js');
      process.stdout.write(manPage(root));
      done(0);
    });

  root
    .command('stop-intent')
    .description(
      "as the unit's ExecStop=-+ (root): tell the service whether this stop is a restart; --clear as ExecStopPost=-+",
    )
    .option('--clear', "remove this invocation's answer")
    .action(async (options: { clear?: boolean }) => {
      const { runStopHook } = await import('../handover/stop-hook.js');
      const { createLogger } = await import('../logger.js');
      done(
        await runStopHook(options.clear === true, {
          env: process.env,
          uid: process.getuid?.() ?? -1,
          logger: createLogger('info'),
        }),
      );
    });

  return result;
}
