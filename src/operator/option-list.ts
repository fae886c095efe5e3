/**
 * What the man page and the completion scripts need to know about a command's options, read from
 * the commander definitions that also produce --help, so the three cannot disagree.
 */
import type { Command, Option } from 'commander';

export interface OptionInfo {
  /** As --help shows it: `-c, --connections-max <N>`. */
  term: string;
  long: string;
  short: string | undefined;
  /** The value's name (`N`, `SPAN`), or undefined for a switch. */
  valueName: string | undefined;
  description: string;
  /** The default as --help shows it (`"5min"`, `256`), if any. */
  defaultText: string | undefined;
  envName: string | undefined;
  choices: readonly string[] | undefined;
  repeatable: boolean;
}

export function describeOptions(command: Command): OptionInfo[] {
  const help = command.createHelp();
  return help.visibleOptions(command).flatMap((option: Option) => {
    if (option.long === undefined) return [];
    const valueName = /<([^>]+)>|\[([^\]]+)\]/.exec(option.flags);
    const hasDefault = option.defaultValue !== undefined && !Array.isArray(option.defaultValue);
    return [
      {
        term: help.optionTerm(option),
        long: option.long,
        short: option.short,
        valueName: valueName ? (valueName[1] ?? valueName[2]) : undefined,
        description: option.description,
        defaultText: hasDefault
          ? (option.defaultValueDescription ?? JSON.stringify(option.defaultValue))
          : undefined,
        envName: option.envVar,
        choices: option.argChoices,
        repeatable: Array.isArray(option.defaultValue),
      },
    ];
  });
}

/** The subcommands a user can type, in definition order. */
export function visibleCommands(command: Command): Command[] {
  return command.createHelp().visibleCommands(command);
}
