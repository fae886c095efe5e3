/**
 * Cold activation pays for every module loaded before the first byte (issue 15), so the operator
 * subcommands' code (units generator, man page, completion) must stay out of the proxy's static
 * import graph: cli.js may reach their definitions, never what they run.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));
const ON_DEMAND = [
  'units-command.js',
  'units-generator.js',
  'man-page.js',
  'completion.js',
  'option-list.js',
];

/** Files reached from `entry` through static `import … from './x.js'` (not `import('./x.js')`). */
function staticGraph(entry: string): Set<string> {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gm))
      visit(join(dirname(file), match[1]!));
  };
  visit(entry);
  return new Set([...seen].map((file) => relative(DIST, file)));
}

describe('the operator subcommands load on demand', () => {
  it('the graph walk follows static imports and not dynamic ones', () => {
    const graph = staticGraph(join(DIST, 'operator/commands.js'));
    expect(graph).toEqual(new Set(['operator/commands.js']));
    expect(readFileSync(join(DIST, 'operator/commands.js'), 'utf8')).toContain(
      "import('./units-command.js')",
    );
    expect(staticGraph(join(DIST, 'operator/units-command.js'))).toContain('operator/units-generator.js');
  });

  it("nothing they run is in cli.js's static imports", () => {
    const graph = staticGraph(join(DIST, 'cli.js'));
    expect(graph).toContain('operator/commands.js');
    expect(graph).toContain('operator/env-options.js');
    for (const file of ON_DEMAND) expect(graph).not.toContain(`operator/${file}`);
  });
});
