/**
 * sockrelay(8), written in man(7) roff from the root command's own definitions: the options, their
 * defaults, environment variables and choices are the ones --help prints, and the examples are
 * --help's own closing text. `npm run build` writes it to dist/sockrelay.8 (package.json "man").
 */
import type { Command } from 'commander';
import { describeOptions, visibleCommands, type OptionInfo } from './option-list.js';

/** Escapes text for roff: backslashes, hyphens (so flags copy and search as typed), leading dots. */
function roff(text: string): string {
  return text
    .replaceAll('\\', '\\e')
    .replaceAll('-', '\\-')
    .split('\n')
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join('\n');
}

/** The text --help prints after the option list (addHelpText('after', …)), without the list itself. */
function helpTextAfter(command: Command): string {
  const saved = command.configureOutput();
  let text = '';
  command.configureOutput({ ...saved, writeOut: (chunk) => (text += chunk) });
  try {
    command.outputHelp();
  } finally {
    command.configureOutput(saved);
  }
  return text.slice(command.helpInformation().length).trim();
}

function optionEntry(option: OptionInfo): string {
  const flags = [option.short, option.long]
    .filter((flag) => flag !== undefined)
    .map((flag) => `\\fB${roff(flag)}\\fR`)
    .join(', ');
  const value = option.valueName === undefined ? '' : ` \\fI${roff(option.valueName)}\\fR`;
  const facts = [
    option.choices ? roff(`One of: ${option.choices.join(', ')}.`) : '',
    option.defaultText === undefined ? '' : roff(`Default: ${option.defaultText.replace(/^"(.*)"$/, '$1')}.`),
    option.repeatable && !/repeatable/i.test(option.description) ? 'Repeatable.' : '',
    option.envName === undefined ? '' : `Environment: \\fB${roff(option.envName)}\\fR.`,
  ].filter((fact) => fact !== '');
  return `.TP\n${flags}${value}\n${[`${roff(option.description)}.`, ...facts].join('\n')}`;
}

/**
 * --help's closing text: its indented "Examples:" block, kept preformatted, and the notes after it
 * (address and time-span syntax, environment, exit codes), one line each as --help shows them.
 */
function examplesAndNotes(command: Command): string[] {
  const text = helpTextAfter(command).replace(/^Examples:\n/, '');
  const notesAt = text.search(/\n\n(?=\S)/);
  const examples = notesAt < 0 ? text : text.slice(0, notesAt);
  const notes = notesAt < 0 ? '' : text.slice(notesAt).trim();
  return [
    examples === '' ? '' : `.SH EXAMPLES\n.nf\n${roff(examples)}\n.fi`,
    notes === '' ? '' : `.SH NOTES\n${notes.split('\n').map(roff).join('\n.br\n')}`,
  ];
}

export function manPage(root: Command): string {
  const name = root.name();
  const options = describeOptions(root);
  const commands = visibleCommands(root);
  const sections = [
    `.TH ${name.toUpperCase()} 8 "" "${name} ${root.version() ?? ''}" "System Administration"`,
    // Flags must not be hyphenated or stretched: readers search and copy them.
    '.nh\n.ad l',
    `.SH NAME\n${name} \\- ${roff(root.description())}`,
    `.SH SYNOPSIS\n.B ${name}\n${roff(root.usage())}`,
    ...commands.map((command) => `.br\n.B ${name} ${command.name()}\n${roff(command.usage())}`),
    `.SH DESCRIPTION\n${roff(
      'BACKEND is HOST:PORT, [IPv6]:PORT, /path/to/unix.sock or @abstract-name. ' +
        'Started by systemd with listening sockets (sd_listen_fds(3)), or by hand with --listen.',
    )}`,
    `.SH OPTIONS\n${options.map(optionEntry).join('\n')}`,
    `.SH COMMANDS\n${commands
      .map((command) => {
        const own = describeOptions(command).filter((option) => option.long !== '--help');
        const nested = own.length > 0 ? `\n.RS\n${own.map(optionEntry).join('\n')}\n.RE` : '';
        return `.TP\n\\fB${name} ${command.name()}\\fR ${roff(command.usage())}\n${roff(command.description())}.${nested}`;
      })
      .join('\n')}`,
    `.SH ENVIRONMENT\n${roff(
      'Every option above can be set through the environment variable named after its long flag ' +
        '(--exit-idle-time: SOCKRELAY_EXIT_IDLE_TIME); a flag on the command line wins. ' +
        'Repeatable options take a space-separated list. The template unit sockrelay@.service ' +
        'reads them, with BACKEND, from /etc/sockrelay/INSTANCE.conf.',
    )}\n.TP\n\\fBLISTEN_PID\\fR, \\fBLISTEN_FDS\\fR, \\fBLISTEN_FDNAMES\\fR\n${roff(
      'The sockets passed by systemd (sd_listen_fds(3)); removed from the environment once read.',
    )}`,
    `.SH SIGNALS\n${[
      [
        'SIGTERM, SIGINT',
        'Stop: accept nothing more and let open connections finish for up to --shutdown-timeout, then ' +
          'reset them. On a restart of a unit with FileDescriptorStoreMax= they are handed to the next ' +
          "process through systemd's fd store instead; the unit's root stop hook (ExecStop=-+" +
          `${name} stop-intent) tells a restart from a stop. A stream is never cut with a clean end.`,
      ],
      [
        'SIGHUP',
        'Reload: check the configuration as it is now, then hand every listener and connection to a new ' +
          'process (a new pid; systemd is told MAINPID=); a bad configuration is refused and the running ' +
          'program serves on.',
      ],
    ]
      .map(([signals, what]) => `.TP\n\\fB${signals}\\fR\n${roff(what!)}`)
      .join('\n')}`,
    ...examplesAndNotes(root),
    `.SH SEE ALSO\n${[
      'systemd.socket(5)',
      'systemd.service(5)',
      'systemd.exec(5)',
      'systemd-socket-proxyd(8)',
      'systemd-socket-activate(1)',
    ]
      .map((ref) => `.BR ${ref.replace('(', ' (')}`)
      .join(',\n')}`,
  ];
  return `${sections.filter((s) => s !== '').join('\n')}\n`;
}
