/**
 * The start log says what the machine gives, one line each with what to change: an fd limit that
 * caps connections below -c (lowered for real with prlimit), and an fd store the service cannot use.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { tempDir } from '../helpers/net.js';
import { CLI, runCli, watchProcess, type LogLine, type RunningProcess } from '../helpers/proxy.js';

const FD_LIMIT_LINE = /^fd limit (\d+) caps connections at (\d+): LimitNOFILE=(\d+) needed for -c 256$/;
const isFdLimitLine = (l: LogLine): boolean => FD_LIMIT_LINE.test(l.msg);
const isStoreLine = (l: LogLine): boolean => l.msg.startsWith('fd store unusable');

async function connectionsMaxGauge(proxy: RunningProcess): Promise<number> {
  const serving = await proxy.log.waitFor('serving metrics');
  const body = await (
    await fetch(`http://${String(serving.metrics)}/metrics`, { signal: AbortSignal.timeout(10_000) })
  ).text();
  const match = /^sockrelay_connections_max (\d+)$/m.exec(body);
  expect(match, body).not.toBeNull();
  return Number(match![1]);
}

describe('what the machine gives, in the start log', () => {
  const cleanups = useCleanups();
  const args = ['--listen=127.0.0.1:0', '--metrics-listen=127.0.0.1:0', '-c', '256', '127.0.0.1:9'];

  function underNofile(limit: number): RunningProcess {
    const proxy = watchProcess(
      spawn('prlimit', [`--nofile=${limit}:${limit}`, process.execPath, CLI, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    cleanups.push(() => proxy.stop());
    return proxy;
  }

  it('an fd limit below -c: one line naming the LimitNOFILE= that lets -c in, and the gauge shows the real cap', async () => {
    const proxy = underNofile(200);
    await proxy.log.waitFor('sockrelay started');
    const line = await proxy.log.waitFor(isFdLimitLine);
    const [, limit, cap, needed] = FD_LIMIT_LINE.exec(line.msg)!.map(Number);
    expect(limit).toBe(200);
    expect(cap).toBeLessThan(256);
    expect(line.level).toBe(40);
    expect(await connectionsMaxGauge(proxy)).toBe(cap);

    // What the line says to change is enough: at that limit, -c 256 stands and the line is gone.
    const raised = underNofile(needed!);
    await raised.log.waitFor('sockrelay started');
    expect(await connectionsMaxGauge(raised)).toBe(256);
    expect(raised.log.lines.filter(isFdLimitLine)).toEqual([]);
  });

  it('NOTIFY_SOCKET without FDSTORE: one line saying the fd store is unusable and what to set', async () => {
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const proxy = runCli(args, { ...process.env, NOTIFY_SOCKET: join(dir.path, 'notify.sock') });
    cleanups.push(() => proxy.stop());
    const line = await proxy.log.waitFor(isStoreLine);
    expect(line.msg).toMatch(/FDSTORE is unset or 0.*set FileDescriptorStoreMax= in the service/);
    await proxy.log.waitFor('sockrelay started');
    expect(proxy.log.lines.filter(isStoreLine)).toHaveLength(1);
  });

  it('FDSTORE without NOTIFY_SOCKET: the store cannot be reached, and the line says Type=notify', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, FDSTORE: '64' };
    delete env.NOTIFY_SOCKET;
    const proxy = runCli(args, env);
    cleanups.push(() => proxy.stop());
    const line = await proxy.log.waitFor(isStoreLine);
    expect(line.msg).toBe(
      'fd store unusable: FDSTORE=64 but NOTIFY_SOCKET is unset; set Type=notify (or NotifyAccess=main) in the service',
    );
  });

  it('says nothing when there is no store to want and the limit fits', async () => {
    const env = { ...process.env };
    delete env.NOTIFY_SOCKET;
    delete env.FDSTORE;
    const proxy = runCli(args, env);
    cleanups.push(() => proxy.stop());
    expect(await connectionsMaxGauge(proxy)).toBe(256);
    expect(proxy.log.lines.filter((l) => isStoreLine(l) || isFdLimitLine(l))).toEqual([]);
  });
});
