/**
 * Reload by SIGHUP outside systemd (--listen): the process execs itself in place with its listener
 * and live connections as LISTEN_FDS, the new flags from --reload-env-file take effect, and a
 * stream under way carries on, bytes intact, over its one backend connection. A bad new
 * configuration refuses the reload and the old program keeps serving.
 * And the config-error path of socket activation: a bad flag answers the waiting client at once.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { collect, dial, echo, freePort, randomBytes, sha256, startServer, tempDir } from '../helpers/net.js';
import { runCli, supervise, type RunningProcess } from '../helpers/proxy.js';

const HALF = 512 * 1024;

describe('reload (SIGHUP)', () => {
  const cleanups = useCleanups();

  /** As under the template unit: the conf is the environment at start, and re-read on reload. */
  async function proxyWithConf(conf: string, startEnv: NodeJS.ProcessEnv) {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const confPath = join(dir.path, 'proxy.conf');
    writeFileSync(confPath, conf);
    const port = await freePort();
    const proxy = runCli(
      [
        '--listen',
        `127.0.0.1:${port}`,
        '--reload-env-file',
        confPath,
        '--exit-idle-time=infinity',
        backend.address,
      ],
      { ...process.env, ...startEnv },
    );
    cleanups.push(() => proxy.stop());
    await proxy.log.waitFor('sockrelay started');
    return { backend, confPath, port, proxy };
  }

  /** A stream half sent and echoed back through the proxy; `finish` sends the rest and collects. */
  async function streamUnderWay(port: number, backend: Awaited<ReturnType<typeof startServer>>) {
    const payload = randomBytes(2 * HALF);
    const client = dial(port);
    const exchange = collect(client, 30_000);
    client.write(payload.subarray(0, HALF));
    await expect.poll(() => [...backend.sockets][0]?.bytesWritten ?? 0, { timeout: 10_000 }).toBe(HALF);
    return {
      finish: async () => {
        client.end(payload.subarray(HALF));
        const { received, error } = await exchange;
        expect(error).toBeNull();
        expect(received.length).toBe(payload.length);
        expect(sha256(received)).toBe(sha256(payload));
      },
    };
  }

  const started = (p: RunningProcess) => p.log.lines.filter((l) => l.msg === 'sockrelay started');

  it('replaces the program in place with the new flags and keeps a live stream intact', async () => {
    const { backend, confPath, port, proxy } = await proxyWithConf('SOCKRELAY_CONNECTIONS_MAX=100\n', {
      SOCKRELAY_CONNECTIONS_MAX: '100',
    });
    const stream = await streamUnderWay(port, backend);
    writeFileSync(confPath, '# edited\nSOCKRELAY_CONNECTIONS_MAX="77"\n');
    proxy.child.kill('SIGHUP');
    await proxy.log.waitFor((l) => l.msg === 'resumed handed-over connections' && l.connections === 1);
    await expect.poll(() => started(proxy).length).toBe(2);
    expect(started(proxy).map((l) => [l.pid, l.connectionsMax])).toEqual([
      [proxy.child.pid, 100],
      [proxy.child.pid, 77],
    ]);
    await stream.finish();
    expect(backend.accepted).toBe(1);
    // The listener crossed too: a new client is served by the new program.
    const next = dial(port);
    const reply = collect(next);
    next.end('after');
    expect((await reply).received.toString()).toBe('after');
    expect(proxy.child.exitCode).toBeNull();
  });

  it('refuses a reload whose new configuration is invalid, says why, and keeps serving', async () => {
    const { backend, confPath, port, proxy } = await proxyWithConf('SOCKRELAY_CONNECTIONS_MAX=100\n', {
      SOCKRELAY_CONNECTIONS_MAX: '100',
    });
    const stream = await streamUnderWay(port, backend);
    writeFileSync(confPath, 'SOCKRELAY_CONNECTIONS_MAX=banana\n');
    proxy.child.kill('SIGHUP');
    const refused = await proxy.log.waitFor((l) => /^reload refused/.test(l.msg));
    expect(refused.level).toBe(50);
    expect(String(refused.why)).toMatch(/connections-max.*banana/);
    await stream.finish();
    expect(started(proxy)).toHaveLength(1);
    expect(proxy.log.lines.filter((l) => l.msg === 're-executing with the live connections')).toEqual([]);
    expect(proxy.child.exitCode).toBeNull();
  });
});

describe('a configuration error under socket activation', () => {
  const cleanups = useCleanups();

  it('answers the waiting client at once and exits with the usage code', async () => {
    const sup = supervise(
      [{ address: { family: 'inet', address: '127.0.0.1', port: 0 }, type: 'stream' }],
      ['--no-such-flag', '127.0.0.1:1'],
      { respawn: false },
    );
    cleanups.push(() => sup.stop());
    const client = dial(sup.activator.port(0));
    const answered = collect(client, 10_000);
    const run = await sup.nextActivation();
    const { received } = await answered;
    expect(received.length).toBe(0);
    expect(run.child.exitCode).toBeNull(); // answered before the exit, not by it
    expect(await run.exitStatus()).toBe(64);
    expect(run.log.raw.join('\n')).toMatch(/no-such-flag/);
  });
});
