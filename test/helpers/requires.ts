/**
 * "This test needs tool X": where the machine lacks it the test is skipped, with one line naming the
 * tool and its Debian package, and the run ends with one summary of all that was skipped and the
 * command that installs it (test/global-setup.ts prints it from the file the workers append to).
 * Under SOCKRELAY_TEST_ALL=1 (CI) a missing tool fails instead: CI never skips silently.
 *
 *   describe.skipIf(!has('promtool'))('…', () => …)
 */
import { appendFileSync } from 'node:fs';
import { relative } from 'node:path';
import { expect } from 'vitest';
import { TOOLS, onPath } from './tools.mjs';

export type Tool = keyof typeof TOOLS | 'root';

/** Set by test/global-setup.ts: where each worker notes what it skipped, one JSON line each. */
export const SKIPS_FILE_ENV = 'SOCKRELAY_TEST_SKIPS';
export const STRICT_ENV = 'SOCKRELAY_TEST_ALL';

function present(tool: Tool): boolean {
  if (tool === 'root') return process.getuid?.() === 0;
  return onPath(tool);
}

export function describeMissing(tool: Tool): string {
  if (tool === 'root') return 'root (run the tests as root)';
  return `${tool} (Debian package ${TOOLS[tool]!.debian})`;
}

const told = new Set<Tool>();

/** Whether every tool is there; a missing one is said once per test file, or thrown under the switch. */
export function has(...tools: Tool[]): boolean {
  const missing = tools.filter((tool) => !present(tool));
  for (const tool of missing) {
    if (process.env[STRICT_ENV] === '1') {
      throw new Error(`${STRICT_ENV}=1 and ${describeMissing(tool)} is missing: sudo npm run test:deps`);
    }
    if (told.has(tool)) continue;
    told.add(tool);
    console.warn(`skipped: needs ${describeMissing(tool)}`);
    const file = process.env[SKIPS_FILE_ENV];
    const testPath = expect.getState().testPath;
    const test = testPath ? relative(process.cwd(), testPath) : '';
    if (file) appendFileSync(file, `${JSON.stringify({ tool, test })}\n`);
  }
  return missing.length === 0;
}
