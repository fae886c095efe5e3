// What the numbers were measured on: they are only comparable within one machine and one run.
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { ROOT } from './subjects.mjs';

function firstLine(cmd, args) {
  try {
    const out = execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 5000,
    });
    return out.split('\n')[0].trim() || null;
  } catch (err) {
    // wrk -v and nginx -v print their version on stderr, and wrk exits 1.
    return (
      String(err.stderr ?? '')
        .split('\n')[0]
        .trim() || null
    );
  }
}

/** The short commit a checkout is at (null outside git). */
export const commitOf = (dir) => firstLine('git', ['-C', dir, 'rev-parse', '--short', 'HEAD']);

export function machine() {
  return {
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    tools: {
      iperf3: firstLine('iperf3', ['--version']),
      wrk: firstLine('wrk', ['-v']),
      nginx: firstLine('nginx', ['-v']),
      systemd: firstLine('systemd-socket-activate', ['--version']),
    },
    sockrelayCommit: commitOf(ROOT),
  };
}
