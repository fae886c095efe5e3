/**
 * Signals against the real CLI. SIGTERM/SIGINT stop it (test/integration/lifecycle.test.ts); no
 * other signal may end it or cut a connection, and none may open a debugger: Node's default is to
 * start an unauthenticated inspector on SIGUSR1, through which any local user could run code in
 * the process that carries every client's traffic.
 */
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { dial, echo, startServer } from '../helpers/net.js';
import { runCli, type RunningProcess } from '../helpers/proxy.js';

/** TCP ports the process itself listens on: its socket inodes, matched in its /proc/net tables. */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (match) inodes.add(match[1]!);
    } catch {
      // The fd closed while we looked.
    }
  }
  const ports: number[] = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // st 0A is TCP_LISTEN; column 9 is the inode.
      if (cols[3] === '0A' && inodes.has(cols[9] ?? '')) ports.push(parseInt(cols[1]!.split(':')[1]!, 16));
    }
  }
  return ports.sort((a, b) => a - b);
}

async function roundTrip(socket: Socket, text: string): Promise<string> {
  socket.write(text);
  let got = '';
  while (got.length < text.length) {
    const [chunk] = (await once(socket, 'data', { signal: AbortSignal.timeout(5000) })) as [Buffer];
    got += chunk.toString();
  }
  return got;
}

/** Resolves with the log line, or rejects if the process exits (or a debugger opens) first. */
function acknowledged(proxy: RunningProcess, signal: string): Promise<unknown> {
  return Promise.race([
    proxy.log.waitFor((l) => l.signal === signal),
    proxy.log.waitForRaw(/Debugger listening/).then(() => {
      throw new Error(`${signal} opened a debugger`);
    }),
    proxy.exited.then((how) => {
      throw new Error(`${signal} ended the process (${how})`);
    }),
  ]);
}

describe('signals other than SIGTERM and SIGINT', () => {
  const cleanups = useCleanups();

  async function start(env: NodeJS.ProcessEnv = {}) {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    // --inspect-port=0: a debugger opened by mistake gets a port of its own, which the check sees
    // even when another process on this machine holds 9229.
    const proxy = runCli(['--listen', '127.0.0.1:0', backend.address], {
      PATH: process.env.PATH,
      NODE_OPTIONS: '--inspect-port=0',
      ...env,
    });
    cleanups.push(() => proxy.stop());
    const started = await proxy.log.waitFor('sockrelay started');
    const port = Number(String((started.listeners as Array<{ address: string }>)[0]!.address).split(':')[1]);
    return { proxy, port, pid: proxy.child.pid! };
  }

  it.each(['SIGUSR1', 'SIGHUP', 'SIGUSR2', 'SIGALRM'] as const)(
    '%s leaves the process serving, its connection open, and opens no debugger',
    async (signal) => {
      const { proxy, port, pid } = await start();
      const client = dial(port);
      cleanups.push(() => client.destroy());
      expect(await roundTrip(client, 'before')).toBe('before');

      for (let i = 0; i < 2; i++) {
        process.kill(pid, signal);
        await acknowledged(proxy, signal);
        expect(await roundTrip(client, `after ${signal} #${i}`)).toBe(`after ${signal} #${i}`);
      }
      expect(listeningPorts(pid)).toEqual([port]);
      expect(proxy.child.exitCode).toBeNull();
      // A new client is served too.
      const second = dial(port);
      cleanups.push(() => second.destroy());
      expect(await roundTrip(second, 'new client')).toBe('new client');
    },
  );

  it('closes an inspector NODE_OPTIONS opened, and says so', async () => {
    const { proxy, port, pid } = await start({ NODE_OPTIONS: '--inspect=127.0.0.1:0' });
    const closed = await proxy.log.waitFor((l) => typeof l.inspector === 'string');
    expect(closed.level).toBe(40);
    expect(listeningPorts(pid)).toEqual([port]);
  });
});
