/**
 * The monitoring that ships in units/monitoring/: the alert rules pass promtool's own checks and
 * unit tests, and every query in the rules and the Grafana dashboard names only metrics that a
 * running sockrelay really exports (read from its /metrics), each documented in the README.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/proxy.js';
import { has } from '../helpers/requires.js';

const DIR = fileURLToPath(new URL('../../units/monitoring/', import.meta.url));
const RULES = readFileSync(`${DIR}sockrelay-alerts.yml`, 'utf8');
const DASHBOARD = JSON.parse(readFileSync(`${DIR}sockrelay-dashboard.json`, 'utf8')) as {
  panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
  templating: { list: Array<{ type: string; query?: string | { query: string } }> };
};
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function promtool(args: string[]) {
  const result = spawnSync('promtool', args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
  if (result.error)
    throw new Error('promtool is needed (Debian: apt-get install prometheus)', { cause: result.error });
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

/** The `expr:` of each rule, single-line or a `|` block. */
function ruleExpressions(yaml: string): string[] {
  const lines = yaml.split('\n');
  const exprs: string[] = [];
  lines.forEach((line, index) => {
    const match = /^(\s*)expr:\s*(.*)$/.exec(line);
    if (!match) return;
    if (match[2] !== '|') return void exprs.push(match[2]!);
    const block: string[] = [];
    for (const next of lines.slice(index + 1)) {
      if (next.trim() !== '' && next.search(/\S/) <= match[1]!.length) break;
      block.push(next.trim());
    }
    exprs.push(block.join(' ').trim());
  });
  return exprs;
}

function dashboardExpressions(): string[] {
  const targets = DASHBOARD.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));
  // A datasource variable's query is a plugin type, not PromQL.
  const variables = DASHBOARD.templating.list
    .filter((variable) => variable.type === 'query')
    .map((variable) => (typeof variable.query === 'string' ? variable.query : variable.query!.query));
  return [...targets, ...variables];
}

const FUNCTIONS = new Set(['sum', 'rate', 'increase', 'histogram_quantile', 'label_values']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset']);

/**
 * The metric names a PromQL expression reads. Strings, label matchers, ranges and label lists
 * (by, on, …) are removed first; what is left is functions (followed by a parenthesis), keywords,
 * numbers and metric names. An unknown function fails, so nothing slips through as one.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/label_values\(([^,()]+),\s*\w+\)/g, 'label_values($1)');
  const names: string[] = [];
  for (const match of bare.matchAll(/(?<![\w.$])[A-Za-z_:][\w:]*/g)) {
    const word = match[0];
    if (
      bare
        .slice(match.index + word.length)
        .trimStart()
        .startsWith('(')
    ) {
      if (!FUNCTIONS.has(word)) throw new Error(`unexpected function ${word} in ${expr}`);
    } else if (!KEYWORDS.has(word)) {
      names.push(word);
    }
  }
  return names;
}

const hasPromtool = has('promtool');

describe('units/monitoring', () => {
  let exported = new Set<string>();

  beforeAll(async () => {
    // A real sockrelay's /metrics: every family it registers, with histograms' sample names.
    const proxy = runCli(['--listen=127.0.0.1:0', '--metrics-listen=127.0.0.1:0', '127.0.0.1:9']);
    try {
      const serving = await proxy.log.waitFor('serving metrics');
      const response = await fetch(`http://${String(serving.metrics)}/metrics`, {
        signal: AbortSignal.timeout(10_000),
      });
      const body = await response.text();
      for (const [, name, type] of body.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        exported.add(name!);
        if (type === 'histogram')
          for (const suffix of ['_bucket', '_sum', '_count']) exported.add(name! + suffix);
      }
      for (const [, name] of body.matchAll(/^([a-zA-Z_:][\w:]*)[{ ]/gm)) exported.add(name!);
    } finally {
      await proxy.stop();
    }
    expect(exported).toContain('sockrelay_connections_failed_total');
    expect(exported).toContain('sockrelay_connections_max');
  }, 30_000);

  it.skipIf(!hasPromtool)('promtool check rules passes', () => {
    const result = promtool(['check', 'rules', 'sockrelay-alerts.yml']);
    expect(result).toEqual({ code: 0, output: expect.stringContaining('SUCCESS: 5 rules found') as string });
  });

  it.skipIf(!hasPromtool)(
    'promtool test rules passes: each alert fires on its input series, and only there',
    () => {
      const result = promtool(['test', 'rules', 'sockrelay-alerts.test.yml']);
      expect(result.output).toContain('SUCCESS');
      expect(result.code).toBe(0);
    },
  );

  it('alerts cover backend failures, drops, the connection cap and flapping activations', () => {
    const alerts = [...RULES.matchAll(/- alert: (\w+)/g)].map((m) => m[1]);
    expect(alerts).toEqual([
      'SockrelayBackendConnectFailures',
      'SockrelayUdpDatagramsDropped',
      'SockrelayConnectionCapReached',
      'SockrelayUdpSessionCapReached',
      'SockrelayActivationsFlapping',
    ]);
  });

  it('the name check sees through queries, and refuses a name sockrelay does not export', () => {
    expect(
      metricNames(
        'histogram_quantile(0.9, sum by (le) (rate(a_bucket{x=~"$y", z="b c"}[$__rate_interval]))) / b > 0',
      ),
    ).toEqual(['a_bucket', 'b']);
    expect(metricNames('label_values(sockrelay_info, instance)')).toEqual(['sockrelay_info']);
    expect(exported.has('sockrelay_connections_dropped_total')).toBe(false);
  });

  it.each([
    ['alert rules', () => ruleExpressions(RULES)],
    ['dashboard', dashboardExpressions],
  ])('every query of the %s names only metrics a running sockrelay exports', (_, expressions) => {
    const exprs = expressions();
    expect(exprs.length).toBeGreaterThanOrEqual(5);
    for (const expr of exprs) {
      const names = metricNames(expr);
      expect(names.length).toBeGreaterThan(0);
      for (const name of names)
        expect({ name, exported: exported.has(name) }).toEqual({ name, exported: true });
    }
  });

  it('every metric the dashboard and alerts use is documented in the README', () => {
    const used = new Set([...ruleExpressions(RULES), ...dashboardExpressions()].flatMap(metricNames));
    for (const name of used) {
      const family = name.replace(/_(bucket|sum|count)$/, '');
      expect({ family, documented: README.includes(`\`${family}\``) }).toEqual({ family, documented: true });
    }
  });
});
