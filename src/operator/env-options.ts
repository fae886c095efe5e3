/**
 * Every option of the proxy can also be set through the environment, so that a unit's
 * EnvironmentFile= holds a proxy's whole configuration: `--exit-idle-time` is read from
 * SOCKRELAY_EXIT_IDLE_TIME, `--connections-max` from SOCKRELAY_CONNECTIONS_MAX. Commander does the
 * reading (Option#env), so a value from the environment is parsed and checked exactly like the flag,
 * --help names the variable, and a flag on the command line wins over it.
 *
 * An environment file holds one line per variable, so a repeatable option (--listen, --route) takes
 * a whitespace-separated list from its variable: SOCKRELAY_ROUTE="web=127.0.0.1:8080 admin=/run/a.sock".
 *
 * A switch (--transparent, --access-log) reads its variable's value, not just its presence: commander
 * alone turns a switch on for any value, so SOCKRELAY_TRANSPARENT=0 would mean "on". Here 1|yes|true|on
 * and 0|no|false|off (any case) are the two answers and anything else, empty included, is refused.
 */
import { Command, type Option } from 'commander';
import { UsageError } from '../errors.js';

/** Options that are not settings: asking for help or the version through the environment makes no sense. */
const NOT_SETTINGS = new Set(['--help', '--version']);

/**
 * Actions, not settings: --check-config makes the proxy exit without serving, so a variable left in
 * a unit's conf would take the service down (and a reload conf's would reset every connection). Its
 * variable is refused rather than ignored: whoever wrote it expected a check, and gets told there is none.
 */
const ACTIONS = new Set(['--check-config']);

const SWITCH_ON = new Set(['1', 'yes', 'true', 'on']);
const SWITCH_OFF = new Set(['0', 'no', 'false', 'off']);

/** A switch's variable as true or false; anything but the eight spellings is a usage error. */
export function switchValue(variable: string, text: string): boolean {
  const word = text.toLowerCase();
  if (SWITCH_ON.has(word)) return true;
  if (SWITCH_OFF.has(word)) return false;
  throw new UsageError(
    'ERR_BAD_SWITCH',
    `${variable}: '${text}' is neither on (1, yes, true, on) nor off (0, no, false, off)`,
  );
}

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
    this.hook('preAction', (_, action) => {
      if (action === this) this.refuseActionVariables();
      this.splitEnvironmentLists();
    });
  }

  override addOption(option: Option): this {
    const long = option.long;
    if (long === undefined || NOT_SETTINGS.has(long) || ACTIONS.has(long)) return super.addOption(option);
    const variable = envName(long);
    option.env(variable);
    super.addOption(option);
    // Commander's own listener (added first) has set the switch on; this one, run after it, decides.
    if (option.isBoolean() && !option.negate)
      this.on(`optionEnv:${option.name()}`, () =>
        this.setOptionValueWithSource(
          option.attributeName(),
          switchValue(variable, process.env[variable] ?? ''),
          'env',
        ),
      );
    return this;
  }

  private refuseActionVariables(): void {
    for (const long of ACTIONS) {
      const variable = envName(long);
      if (process.env[variable] !== undefined)
        throw new UsageError(
          'ERR_ACTION_FROM_ENV',
          `${variable}: ${long} is not read from the environment; pass the flag to check a configuration`,
        );
    }
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
