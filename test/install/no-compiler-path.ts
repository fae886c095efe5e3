/**
 * A PATH holding only what installing and running sockrelay needs, and no compiler or make: the
 * machine of a user who never installed build tools.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';

export const BUILD_TOOLS = ['cc', 'c++', 'gcc', 'g++', 'clang', 'clang++', 'make'];

function locate(tool: string): string {
  // python3 may be a version manager's shim that needs more than a PATH entry; link the interpreter.
  if (tool === 'python3') {
    return execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  }
  return realpathSync(execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim());
}

/** Links node, npm, sh, systemd-socket-activate and python3 into `dir`; returns it as a PATH. */
export function noCompilerPath(dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const tool of ['node', 'npm', 'sh', 'systemd-socket-activate', 'python3']) {
    symlinkSync(locate(tool), join(dir, tool));
  }
  return dir;
}
