/**
 * `--listen udp:ADDR` binds a datagram socket, so running by hand relays UDP the way a .socket
 * unit's ListenDatagram= does, for IPv4 and bracketed IPv6 alike.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { freePort } from '../helpers/net.js';
import { runCli, runCliSync } from '../helpers/proxy.js';
import { ask, echoBackend } from '../helpers/udp.js';

describe('--listen udp:', () => {
  const cleanups = useCleanups();

  it.each([
    ['udp4', '127.0.0.1', (port: number) => `udp:127.0.0.1:${port}`],
    ['udp6', '::1', (port: number) => `udp:[::1]:${port}`],
  ] as const)('relays %s datagrams through a socket it binds itself', async (type, host, listen) => {
    const backend = await echoBackend(type, host, 'tag');
    cleanups.push(() => backend.close());
    const port = await freePort(host, 'udp');
    const backendAddress = type === 'udp4' ? `${host}:${backend.port}` : `[${host}]:${backend.port}`;
    const proxy = runCli(['--listen', listen(port), backendAddress]);
    cleanups.push(() => proxy.stop());
    await proxy.log.waitFor('sockrelay started');

    const client = dgram.createSocket(type);
    cleanups.push(() => client.close());
    client.bind(0, host);
    await once(client, 'listening');
    const reply = await ask(client, 'over udp', port, host);
    // The backend tags the reply with the source port it saw: the relay's, not the client's.
    expect(reply).toMatch(/^\d+\|over udp$/);
    expect(reply.startsWith(`${client.address().port}|`)).toBe(false);
    expect(backend.received).toBe(1);
  });

  it('stops when idle and exits 0: the socket it bound is closed once, by the relay that owns it', async () => {
    const port = await freePort('127.0.0.1', 'udp');
    const proxy = runCli(['--listen', `udp:127.0.0.1:${port}`, '--exit-idle-time=1', '127.0.0.1:9']);
    cleanups.push(() => proxy.stop());
    expect(await proxy.exitStatus()).toBe(0);
    expect(proxy.log.raw.filter((line) => line.startsWith('sockrelay:'))).toEqual([]);
    expect((await proxy.log.waitFor('sockrelay stopped')).reason).toBe('idle');
  });

  it('refuses udp: before a unix path with one usage line', () => {
    const { code, stderr } = runCliSync(['--listen', 'udp:/run/x.sock', '127.0.0.1:80']);
    expect(code).toBe(64);
    expect(stderr).toBe("sockrelay: --listen: 'udp:/run/x.sock' udp: takes HOST:PORT or [IPv6]:PORT\n");
  });
});
