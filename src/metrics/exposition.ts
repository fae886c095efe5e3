/**
 * Reading the Prometheus text exposition format (version 0.0.4), just enough to take back
 * what our own textfile writer wrote: `# TYPE` lines and samples with labels. HELP lines and
 * other comments are skipped; timestamps after a value are accepted and ignored.
 *
 * It is strict on purpose. The reader's only caller decides whether to continue counters from
 * the file, and continuing from a half-understood file is worse than starting from zero, so any
 * line it cannot read makes the whole file malformed.
 */
import { SockrelayError, ExitCode } from '../errors.js';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

export interface Exposition {
  /** Family name → type as declared by `# TYPE`. */
  types: Map<string, string>;
  samples: Sample[];
}

/** A textfile that is not valid exposition text; callers start from zero instead. */
export class MalformedExpositionError extends SockrelayError {
  constructor(why: string) {
    super('ERR_METRICS_TEXTFILE_MALFORMED', why, ExitCode.config);
  }
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const ESCAPES: Record<string, string> = { '\\': '\\', '"': '"', n: '\n' };

/** A stable key for a label set, independent of the order labels were written in. */
export function labelsKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',');
}

/** The exposition format's float syntax: Go's ParseFloat plus Inf/NaN spellings. */
function parseValue(text: string): number | null {
  switch (text) {
    case '+Inf':
    case 'Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
    case 'Nan':
      return NaN;
  }
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return null;
  return Number(text);
}

function parseLabels(text: string, lineNo: number): { labels: Record<string, string>; rest: string } {
  const labels: Record<string, string> = {};
  let at = 1; // past '{'
  for (;;) {
    while (text[at] === ' ') at++;
    if (text[at] === '}') return { labels, rest: text.slice(at + 1) };
    const name = LABEL_NAME.exec(text.slice(at))?.[0];
    // `__`-prefixed names are reserved by Prometheus (and `__proto__` would not be a plain key).
    if (!name || name.startsWith('__')) throw new MalformedExpositionError(`line ${lineNo}: bad label name`);
    at += name.length;
    if (text[at] !== '=' || text[at + 1] !== '"')
      throw new MalformedExpositionError(`line ${lineNo}: bad label`);
    at += 2;
    let value = '';
    for (;;) {
      const c = text[at++];
      if (c === undefined) throw new MalformedExpositionError(`line ${lineNo}: unterminated label value`);
      if (c === '"') break;
      if (c === '\\') {
        const escaped = ESCAPES[text[at++] ?? ''];
        if (escaped === undefined)
          throw new MalformedExpositionError(`line ${lineNo}: bad escape in label value`);
        value += escaped;
      } else value += c;
    }
    if (Object.hasOwn(labels, name))
      throw new MalformedExpositionError(`line ${lineNo}: label ${name} repeated`);
    labels[name] = value;
    while (text[at] === ' ') at++;
    if (text[at] === ',') at++;
    else if (text[at] !== '}')
      throw new MalformedExpositionError(`line ${lineNo}: expected , or } after a label`);
  }
}

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  text.split('\n').forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === '') return;
    if (line.startsWith('#')) {
      const type = /^#\s*TYPE\s+(\S+)\s+(\S+)$/.exec(line);
      if (type) types.set(type[1]!, type[2]!);
      return;
    }
    const name = NAME.exec(line)?.[0];
    if (!name) throw new MalformedExpositionError(`line ${lineNo}: no metric name`);
    let rest = line.slice(name.length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) ({ labels, rest } = parseLabels(rest, lineNo));
    const fields = rest.trim().split(/\s+/);
    if (fields.length > 2 || fields[0] === '') {
      throw new MalformedExpositionError(`line ${lineNo}: expected a value and at most a timestamp`);
    }
    const value = parseValue(fields[0]!);
    if (value === null) throw new MalformedExpositionError(`line ${lineNo}: '${fields[0]}' is not a number`);
    samples.push({ name, labels, value });
  });
  return { types, samples };
}
