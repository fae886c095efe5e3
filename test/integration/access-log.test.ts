/**
 * --access-log: one info line per finished connection, with the client, listener, backend, bytes
 * each way, duration and how it ended; checked against real connections through the built CLI.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { dial, echo, freePort, sendAndCollect, startServer } from '../helpers/net.js';
import { runCli, type LogLine, type RunningProcess } from '../helpers/proxy.js';
import { ask, echoBackend } from '../helpers/udp.js';

const isAccess = (l: LogLine): boolean => typeof l.end === 'string';

describe('--access-log', () => {
  const cleanups = useCleanups();

  async function proxyTo(
    backend: string,
    extra: string[] = [],
    listenOn = '127.0.0.1:0',
  ): Promise<{ proxy: RunningProcess; listen: string }> {
    const proxy = runCli(['--listen', listenOn, ...extra, backend]);
    cleanups.push(() => proxy.stop());
    const started = await proxy.log.waitFor('sockrelay started');
    return { proxy, listen: (started.listeners as Array<{ address: string }>)[0]!.address };
  }

  async function connected(target: string): Promise<Socket> {
    const client = dial(target);
    cleanups.push(() => client.destroy());
    // A refused backend's client is reset by the proxy: that is the case under test, not an error.
    client.on('error', () => undefined);
    await once(client, 'connect', { signal: AbortSignal.timeout(5000) });
    return client;
  }

  it('logs a normal close as eof, with the client, both byte counts and the duration', async () => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const { proxy, listen } = await proxyTo(backend.address, ['--access-log']);
    const client = await connected(listen);
    const clientAddress = `${client.localAddress}:${client.localPort}`;
    const { received } = await sendAndCollect(client, Buffer.from('hello, access log'));
    expect(received.toString()).toBe('hello, access log');

    const line = await proxy.log.waitFor(isAccess);
    expect(line).toMatchObject({
      level: 30,
      client: clientAddress,
      listener: listen,
      backend: backend.address,
      bytesIn: 17,
      bytesOut: 17,
      end: 'eof',
    });
    expect(line.durationMs).toBeGreaterThanOrEqual(0);
    expect(line.msg).toBe(
      `${clientAddress} ${listen} -> ${backend.address} in=17 out=17 ${(line.durationMs as number).toFixed(1)}ms eof`,
    );
  });

  it('tells a reset by the client apart', async () => {
    const arrived: Buffer[] = [];
    const backend = await startServer((s) => s.on('data', (d: Buffer) => arrived.push(d)));
    cleanups.push(() => backend.close());
    const { proxy, listen } = await proxyTo(backend.address, ['--access-log']);
    const client = await connected(listen);
    client.write('abc');
    await expect.poll(() => Buffer.concat(arrived).toString()).toBe('abc');
    client.resetAndDestroy();

    const line = await proxy.log.waitFor(isAccess);
    expect(line).toMatchObject({ bytesIn: 3, bytesOut: 0, end: 'reset-by-client' });
  });

  it('logs a backend that refuses as connect-failed, with nothing moved', async () => {
    const refusing = `127.0.0.1:${await freePort()}`;
    const { proxy, listen } = await proxyTo(refusing, ['--access-log', '--connect-timeout', '200ms']);
    const client = await connected(listen);
    const clientAddress = `${client.localAddress}:${client.localPort}`;

    const line = await proxy.log.waitFor(isAccess);
    expect(line).toMatchObject({
      client: clientAddress,
      backend: refusing,
      bytesIn: 0,
      bytesOut: 0,
      end: 'connect-failed',
    });
  });

  it('escapes in msg what a unix client chose as its own name: no forged line, no terminal escape', async () => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const listen = `@sockrelay-access-${process.pid}-${Date.now()}`;
    const { proxy } = await proxyTo(backend.address, ['--access-log'], listen);
    // Node cannot bind a unix client before it connects; python3 can, to any abstract name.
    const name = 'me\n{"level":50,"msg":"forged"}\x1b[2J\r\u2028';
    // Spawned, not spawnSync: the echo backend lives in this process and must answer meanwhile.
    const client = spawn(
      'python3',
      [
        '-c',
        `import socket,sys
s=socket.socket(socket.AF_UNIX,socket.SOCK_STREAM)
s.bind("\\0"+sys.argv[2])
s.connect("\\0"+sys.argv[1][1:])
s.sendall(b"hi")
s.shutdown(socket.SHUT_WR)
assert s.recv(16)==b"hi"
s.close()`,
        listen,
        name,
      ],
      { timeout: 5000, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    cleanups.push(() => client.kill('SIGKILL'));
    const [status] = (await once(client, 'exit')) as [number | null];
    expect(status).toBe(0);
    const line = await proxy.log.waitFor(isAccess);
    expect(line.client).toBe(`@${name}`);
    // eslint-disable-next-line no-control-regex
    expect(line.msg).not.toMatch(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/);
    expect(line.msg.startsWith('@me\\n{"level":50,"msg":"forged"}\\x1b[2J\\r\\u2028 ')).toBe(true);
  });

  it('is off by default', async () => {
    const backend = await startServer(echo);
    cleanups.push(() => backend.close());
    const { proxy, listen } = await proxyTo(backend.address);
    const { received } = await sendAndCollect(await connected(listen), Buffer.from('quiet'));
    expect(received.toString()).toBe('quiet');
    proxy.child.kill('SIGTERM');
    expect(await proxy.exitStatus()).toBe(0);
    expect(proxy.log.lines.filter(isAccess)).toEqual([]);
  });

  it('logs a UDP session when it times out, with what it carried each way', async () => {
    const backend = await echoBackend('udp4', '127.0.0.1', 'plain');
    cleanups.push(() => backend.close());
    const client = dgram.createSocket('udp4');
    cleanups.push(() => client.close());
    client.bind(0, '127.0.0.1');
    await once(client, 'listening');
    // A free port for the proxy to bind: a probe binds port 0 and lets it go.
    const probe = dgram.createSocket('udp4');
    probe.bind(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = probe.address().port;
    probe.close();
    const proxy = runCli([
      '--listen',
      `udp:127.0.0.1:${port}`,
      '--udp-session-timeout',
      '300ms',
      '--access-log',
      `127.0.0.1:${backend.port}`,
    ]);
    cleanups.push(() => proxy.stop());
    await proxy.log.waitFor('sockrelay started');

    expect(await ask(client, 'ping!', port)).toBe('ping!');
    const line = await proxy.log.waitFor(isAccess);
    expect(line).toMatchObject({
      client: `127.0.0.1:${client.address().port}`,
      listener: `127.0.0.1:${port}`,
      backend: `127.0.0.1:${backend.port}`,
      bytesIn: 5,
      bytesOut: 5,
      end: 'idle-timeout',
    });
    expect(line.durationMs).toBeGreaterThanOrEqual(300);
  });
});
