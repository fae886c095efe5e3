/**
 * The folders of src/ form layers: an import from one folder into another never comes back, by
 * any path. A cycle is how a lower layer starts knowing a higher one (lifecycle of reload, backend
 * of the engine); this test names the files of the first cycle it finds. Files at src/'s top level
 * (cli.ts, daemon.ts, errors.ts, …) are the assembly and its leaves, not a layer, and are left out.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.(ts|mjs)$/.test(entry.name) ? [path] : [];
  });
}

/** The top-level folder of a file under src/, or null for a file at the top level. */
function folderOf(path: string): string | null {
  const parts = relative(SRC, path).split('/');
  return parts.length > 1 ? parts[0]! : null;
}

/** folder → folder it imports → one file that does, for the message. */
function folderImports(): Map<string, Map<string, string>> {
  const edges = new Map<string, Map<string, string>>();
  for (const file of sources(SRC)) {
    const from = folderOf(file);
    if (!from) continue;
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
      const to = folderOf(resolve(dirname(file), specifier!));
      if (!to || to === from) continue;
      if (!edges.has(from)) edges.set(from, new Map());
      edges.get(from)!.set(to, relative(SRC, file));
    }
  }
  return edges;
}

/** A cycle as the files that make each step of it, or null. Depth-first, bounded by the folders. */
function firstCycle(edges: Map<string, Map<string, string>>): string[] | null {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (node: string): string[] | null => {
    const at = path.indexOf(node);
    if (at >= 0) {
      const loop = [...path.slice(at), node];
      return loop.slice(1).map((to, i) => `${loop[i]} -> ${to} (${edges.get(loop[i]!)!.get(to)})`);
    }
    if (done.has(node)) return null;
    path.push(node);
    for (const next of edges.get(node)?.keys() ?? []) {
      const found = visit(next);
      if (found) return found;
    }
    path.pop();
    done.add(node);
    return null;
  };
  for (const node of edges.keys()) {
    const found = visit(node);
    if (found) return found;
  }
  return null;
}

describe('folders of src/', () => {
  it('import each other without a cycle', () => {
    const edges = folderImports();
    expect(edges.size).toBeGreaterThan(5);
    expect(firstCycle(edges)).toBeNull();
  });

  it('a cycle is found and named when there is one', () => {
    const edges = new Map([
      ['a', new Map([['b', 'a/x.ts']])],
      ['b', new Map([['c', 'b/y.ts']])],
      ['c', new Map([['a', 'c/z.ts']])],
    ]);
    expect(firstCycle(edges)).toEqual(['a -> b (a/x.ts)', 'b -> c (b/y.ts)', 'c -> a (c/z.ts)']);
  });
});
