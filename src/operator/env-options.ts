/**
 * Every option of the proxy can also be set through the environment, so that a unit's
 * EnvironmentFile= holds a proxy's whole configuration: `--exit-idle-time` is read from
 * SOCKRELAY_EXIT_IDLE_TIME, `--connections-max` from SOCKRELAY_CONNECTIONS_MAX. Commander does the
 * reading (Option#env), so a value from the environment is parsed and checked exactly like the flag,
 * --help names the variable, and a flag on the command line wins over it.
 *
 * An environment file holds one line per variable, so a repeatable option (--listen, --route) takes
 * a whitespace-separated list from its variable: SOCKRELAY_ROUTE="web=127.0.0.1:8080 admin=/run/a.sock".
 */
import { Command, type Option } from 'commander';

/** Options that are not settings: asking for help or the version through the environment makes no sense. */
const NOT_SETTINGS = new Set(['--help', '--version']);

/** `--exit-idle-time` → `SOCKRELAY_EXIT_IDLE_TIME`. */
export function envName(longFlag: string): string {
  return `SOCKRELAY_${longFlag.replace(/^--/, '').replaceAll('-', '_').toUpperCase()}`;
}

/** Repeatable options collect into an array, so their default is one. */
export function isRepeatable(option: Option): boolean {
  return Array.isArray(option.defaultValue);
}

/**
 * A command whose every option gets its SOCKRELAY_* variable as it is added: commander listens for
 * an option's variable only when the option already names it on addOption (both .option() and
 * .addOption() go through there). Subcommands are plain commands: their options are not settings.
 */
export class EnvironmentCommand extends Command {
  constructor(name: string) {
    super(name);
    this.hook('preAction', () => this.splitEnvironmentLists());
  }

  override addOption(option: Option): this {
    if (option.long !== undefined && !NOT_SETTINGS.has(option.long)) option.env(envName(option.long));
    return super.addOption(option);
  }

  /** Turns the single value commander read for a repeatable option's variable into the list it holds. */
  private splitEnvironmentLists(): void {
    for (const option of this.options.filter(isRepeatable)) {
      const key = option.attributeName();
      if (this.getOptionValueSource(key) !== 'env') continue;
      const values = this.getOptionValue(key) as string[];
      this.setOptionValueWithSource(
        key,
        values.flatMap((value) => value.split(/\s+/).filter((item) => item !== '')),
        'env',
      );
    }
  }
}
