/**
 * PROXY protocol through the built CLI, as systemd would run it, to real
 * consumers: nginx (`listen … proxy_protocol`, answering and logging
 * `$proxy_protocol_addr:$proxy_protocol_port`) and haproxy (`accept-proxy`,
 * answering `%[src]:%[src_port]`). A consumer that got no header, a broken
 * one, or two would answer 400 or close, so a 200 naming the client's own
 * port is the proof. UDP has no such consumer in Debian: its datagrams are
 * checked byte for byte against the spec.
 */
import dgram from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { dial, echo, freePort, sendAndCollect, startServer, tempDir } from '../helpers/net.js';
import { runCli, supervise, underSocketActivate, type RunningProcess } from '../helpers/proxy.js';
import {
  hasHaproxy,
  hasNginx,
  httpGet,
  startHaproxy,
  startNginx,
  type Consumer,
} from '../proxy-protocol/consumers.js';
import { has } from '../helpers/requires.js';

const loopback = { family: 'inet', address: '127.0.0.1', port: 0 } as const;
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function activated(activateArgs: string[], args: string[]): Promise<RunningProcess> {
  const running = await underSocketActivate(activateArgs, args);
  cleanups.push(() => running.stop());
  return running;
}

function supervised(...args: Parameters<typeof supervise>): ReturnType<typeof supervise> {
  const s = supervise(...args);
  cleanups.push(() => s.stop());
  return s;
}

function scratch(): string {
  const dir = tempDir('sockrelay-pp-');
  cleanups.push(() => dir.remove());
  return dir.path;
}

const activate = has('systemd-socket-activate');

describe.skipIf(!hasNginx || !activate)('PROXY protocol to nginx', () => {
  const dir = tempDir('sockrelay-nginx-');
  let nginx: Consumer & { accessLog(): string[] };
  beforeAll(async () => {
    nginx = await startNginx(dir.path);
  });
  afterAll(async () => {
    await nginx?.stop();
    dir.remove();
  });

  it('v1 over IPv4: nginx answers and logs the client address and port', async () => {
    const port = await freePort();
    const proxy = await activated(
      ['-l', `127.0.0.1:${port}`],
      ['--proxy-protocol=v1', `127.0.0.1:${nginx.port}`],
    );
    const reply = await httpGet(dial(port));
    expect(reply.status).toBe('HTTP/1.1 200 OK');
    expect(reply.body).toBe(`127.0.0.1:${reply.localPort}`);
    // nginx logs after it has answered: wait for the line rather than race it.
    await expect
      .poll(() => nginx.accessLog().includes(`127.0.0.1:${reply.localPort}`), { timeout: 10_000 })
      .toBe(true);
    expect(nginx.accessLog()).toContain(`127.0.0.1:${reply.localPort}`);
    const started = await proxy.log.waitFor('sockrelay started');
    expect(started.listeners).toEqual([expect.objectContaining({ proxyProtocol: 'v1' })]);
  });

  it('v2 over IPv6', async () => {
    const port = await freePort('::1');
    await activated(['-l', `[::1]:${port}`], ['--proxy-protocol=v2', `[::1]:${nginx.port6}`]);
    const reply = await httpGet(dial(`[::1]:${port}`));
    expect(reply.body).toBe(`::1:${reply.localPort}`);
    // nginx logs after it has answered: wait for the line rather than race it.
    await expect
      .poll(() => nginx.accessLog().includes(`::1:${reply.localPort}`), { timeout: 10_000 })
      .toBe(true);
    expect(nginx.accessLog()).toContain(`::1:${reply.localPort}`);
  });

  it('v2 from an Accept=yes connection (systemd-socket-activate -a)', async () => {
    const port = await freePort();
    await activated(['-a', '-l', `127.0.0.1:${port}`], ['--proxy-protocol=v2', `127.0.0.1:${nginx.port}`]);
    const reply = await httpGet(dial(port));
    expect(reply.body).toBe(`127.0.0.1:${reply.localPort}`);
  });

  it('a unix listener: v1 UNKNOWN and v2 AF_UNIX are both accepted, with no IP address to give', async () => {
    const path = join(scratch(), 'relay.sock');
    const path1 = `${path}.v1`;
    const sup = supervised(
      [
        { address: { family: 'unix', path, abstract: false }, type: 'stream', name: 'v2' },
        { address: { family: 'unix', path: path1, abstract: false }, type: 'stream', name: 'v1' },
      ],
      [
        '--route',
        `v2=127.0.0.1:${nginx.port},proxy-protocol=v2`,
        '--route',
        `v1=127.0.0.1:${nginx.port},proxy-protocol=v1`,
      ],
    );
    for (const p of [path, path1]) {
      const reply = await httpGet(dial(p));
      expect(reply.status).toBe('HTTP/1.1 200 OK');
      expect(reply.body).toBe(':');
    }
    expect(sup.activations).toHaveLength(1);
  });

  it('per route: only the route that asks sends a header, and the start log says which', async () => {
    const plain = await startServer(echo);
    cleanups.push(() => plain.close());
    const sup = supervised(
      [
        { address: loopback, type: 'stream', name: 'web' },
        { address: loopback, type: 'stream', name: 'plain' },
      ],
      ['--route', `web=127.0.0.1:${nginx.port},proxy-protocol=v2`, '--route', `plain=${plain.address}`],
    );
    const reply = await httpGet(dial(sup.activator.port(0)));
    expect(reply.body).toBe(`127.0.0.1:${reply.localPort}`);
    const raw = await sendAndCollect(dial(sup.activator.port(1)), Buffer.from('no header here'));
    expect(raw.received.toString()).toBe('no header here');
    const started = await (await sup.nextActivation()).log.waitFor('sockrelay started');
    expect(started.listeners).toEqual([
      expect.objectContaining({ name: 'web', proxyProtocol: 'v2' }),
      expect.not.objectContaining({ proxyProtocol: expect.anything() }),
    ]);
  });

  it('holds the client while nginx is still starting, then sends the header once', async () => {
    const late = tempDir('sockrelay-nginx-late-');
    cleanups.push(() => late.remove());
    const [proxyPort, nginxPort] = [await freePort(), await freePort()];
    const proxy = await activated(
      ['-l', `127.0.0.1:${proxyPort}`],
      ['--proxy-protocol=v1', '--log-level=debug', '--connect-timeout=20s', `127.0.0.1:${nginxPort}`],
    );
    const answer = httpGet(dial(proxyPort));
    // Accepted and connecting: only now does the backend come up.
    await proxy.log.waitFor('connection open');
    const server = await startNginx(late.path, nginxPort);
    cleanups.push(() => server.stop());
    const reply = await answer;
    expect(reply.status).toBe('HTTP/1.1 200 OK');
    expect(reply.body).toBe(`127.0.0.1:${reply.localPort}`);
  });
});

describe.skipIf(!hasHaproxy || !activate)('PROXY protocol to haproxy', () => {
  const dir = tempDir('sockrelay-haproxy-');
  let haproxy: Consumer;
  beforeAll(async () => {
    haproxy = await startHaproxy(dir.path);
  });
  afterAll(async () => {
    await haproxy?.stop();
    dir.remove();
  });

  it.each(['v1', 'v2'])('%s over IPv4', async (version) => {
    const port = await freePort();
    await activated(
      ['-l', `127.0.0.1:${port}`],
      [`--proxy-protocol=${version}`, `127.0.0.1:${haproxy.port}`],
    );
    const reply = await httpGet(dial(port));
    expect(reply.status).toBe('HTTP/1.1 200 OK');
    expect(reply.body).toBe(`127.0.0.1:${reply.localPort}`);
  });

  it.each(['v1', 'v2'])('%s over IPv6', async (version) => {
    const port = await freePort('::1');
    await activated(['-l', `[::1]:${port}`], [`--proxy-protocol=${version}`, `[::1]:${haproxy.port6}`]);
    const reply = await httpGet(dial(`[::1]:${port}`));
    expect(reply.body).toBe(`::1:${reply.localPort}`);
  });

  it('v2 to a unix socket backend still names the TCP client', async () => {
    const port = await freePort();
    await activated(['-l', `127.0.0.1:${port}`], ['--proxy-protocol=v2', haproxy.unixPath!]);
    const reply = await httpGet(dial(port));
    expect(reply.body).toBe(`127.0.0.1:${reply.localPort}`);
  });
});

describe.skipIf(!activate)(
  'PROXY header on an Accept=yes connection (systemd-socket-activate -a), byte for byte',
  () => {
    const SIG = '0d0a0d0a000d0a515549540a';
    const hex16 = (n: number): string => n.toString(16).padStart(4, '0');

    it('v2 over IPv4: the header, then the client bytes', async () => {
      const backend = await startServer(echo, { host: '127.0.0.1' });
      cleanups.push(() => backend.close());
      const port = await freePort();
      await activated(
        ['-a', '-l', `127.0.0.1:${port}`],
        ['--proxy-protocol=v2', `127.0.0.1:${backend.port}`],
      );
      const client = dial(port);
      await once(client, 'connect');
      const ports = hex16(client.localPort!) + hex16(port);
      const { received } = await sendAndCollect(client, Buffer.from('inetd'));
      expect(received.toString('hex')).toBe(
        `${SIG}2111000c7f0000017f000001${ports}${Buffer.from('inetd').toString('hex')}`,
      );
    });

    it('v1 over IPv6: waits for a late backend, then sends the header once, before the early bytes', async () => {
      const [port, backendPort] = [await freePort('::1'), await freePort('::1')];
      const proxy = await activated(
        ['-a', '-l', `[::1]:${port}`],
        ['--proxy-protocol=v1', '--log-level=debug', '--connect-timeout=20s', `[::1]:${backendPort}`],
      );
      const client = dial(`[::1]:${port}`);
      await once(client, 'connect');
      const clientPort = client.localPort!;
      const done = sendAndCollect(client, Buffer.from('early'));
      // Handed to the engine and connecting: only now does the backend come up.
      await proxy.log.waitFor('connection open');
      const backend = await startServer(echo, { host: '::1', port: backendPort });
      cleanups.push(() => backend.close());
      const { received } = await done;
      expect(received.toString('latin1')).toBe(`PROXY TCP6 ::1 ::1 ${clientPort} ${port}\r\nearly`);
      expect(backend.accepted).toBe(1);
      await proxy.log.waitForRaw(/Child \d+ died with code 0/);
    });

    it('a backend that never answers: the client is closed and the process exits 0', async () => {
      const [port, deadPort] = [await freePort(), await freePort()];
      const proxy = await activated(
        ['-a', '-l', `127.0.0.1:${port}`],
        ['--proxy-protocol=v2', '--connect-timeout=300ms', `127.0.0.1:${deadPort}`],
      );
      const { received } = await sendAndCollect(dial(port), Buffer.from('lost'));
      expect(received.length).toBe(0);
      await proxy.log.waitFor('backend connect failed');
      await proxy.log.waitForRaw(/Child \d+ died with code 0/);
    });
  },
);

describe('PROXY protocol on UDP through the CLI', () => {
  it('v2 on every datagram, byte for byte', async () => {
    const backend = dgram.createSocket('udp4');
    const received: Buffer[] = [];
    backend.on('message', (data, from) => {
      received.push(data);
      backend.send('ok', from.port, from.address);
    });
    backend.bind(0, '127.0.0.1');
    await once(backend, 'listening');
    cleanups.push(() => backend.close());
    const sup = supervised(
      [{ address: loopback, type: 'dgram' }],
      ['--proxy-protocol=v2', `127.0.0.1:${backend.address().port}`],
    );
    const port = sup.activator.port(0);
    const client = dgram.createSocket('udp4');
    client.bind(0, '127.0.0.1');
    await once(client, 'listening');
    cleanups.push(() => client.close());
    for (const text of ['a', 'bc']) {
      const reply = once(client, 'message', { signal: AbortSignal.timeout(5000) });
      client.send(text, port, '127.0.0.1');
      const [data] = (await reply) as [Buffer];
      expect(data.toString()).toBe('ok');
    }
    const hex16 = (n: number): string => n.toString(16).padStart(4, '0');
    const header = `0d0a0d0a000d0a515549540a2112000c7f0000017f000001${hex16(client.address().port)}${hex16(port)}`;
    expect(received.map((d) => d.toString('hex'))).toEqual([`${header}61`, `${header}6263`]);
  });

  it('refuses v1 on a datagram socket: exit 78, one line', async () => {
    const sup = supervised(
      [{ address: loopback, type: 'dgram', name: 'dns' }],
      ['--proxy-protocol=v1', '127.0.0.1:53'],
      {
        spawn: 'now',
        respawn: false,
      },
    );
    const run = await sup.nextActivation();
    expect(await run.exitStatus()).toBe(78);
    expect(run.log.raw.filter(Boolean)).toEqual([
      'sockrelay: fd 3 (dns) is a datagram socket: PROXY protocol v1 describes TCP only; use v2',
    ]);
  });
});

describe('--proxy-protocol usage', () => {
  it('a bad value is exit 64 with one line', async () => {
    const run = runCli(['--proxy-protocol=v3', '127.0.0.1:80']);
    expect(await run.exitStatus()).toBe(64);
    expect(run.log.raw.filter(Boolean)).toEqual([
      "sockrelay: --proxy-protocol: 'v3' is not one of none, v1, v2",
    ]);
  });
});
