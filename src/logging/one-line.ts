/**
 * Text from outside (a flag, a variable, a client's name) made safe to print on one line.
 *
 * An error line or a log message that carries such text raw lets whoever chose it write a second
 * line: under journald each line is an entry of its own, so `5s\n{"level":50,…}` forges one, and an
 * ESC sequence repaints the operator's terminal in `jq -r .msg` or pino-pretty. Every control
 * character (C0, DEL, C1) is written as an escape instead, and so are the Unicode line and paragraph
 * separators and the bidirectional overrides, which some viewers treat as a line break or use to
 * reorder what is shown. Backslashes are left alone: the text stays readable, and it is still one line.
 */

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function escape(char: string): string {
  const named = NAMED[char];
  if (named !== undefined) return named;
  const code = char.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with every character that could break or repaint the line written as an escape. */
export function escapeControl(text: string): string {
  return text.replace(UNPRINTABLE, escape);
}
