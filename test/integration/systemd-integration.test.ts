/**
 * systemd integration: routing named fds, Accept=yes connections, mixed TCP and
 * UDP activation, sd_notify with a real AF_UNIX datagram receiver, and the
 * per-connection idle timeout.
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { dial, echo, freePort, sendAndCollect, startServer, tempDir } from '../helpers/net.js';
import { ask, echoBackend } from '../helpers/udp.js';
import { supervise, underSocketActivate, type Supervised } from '../helpers/proxy.js';
import { has } from '../helpers/requires.js';

const loopback = { family: 'inet', address: '127.0.0.1', port: 0 } as const;

describe.skipIf(!has('systemd-socket-activate'))('systemd integration', () => {
  const cleanups = useCleanups();
  async function backendWith(handler: (s: Socket) => void) {
    const s = await startServer(handler);
    cleanups.push(() => s.close());
    return s;
  }
  function supervised(...args: Parameters<typeof supervise>): Supervised {
    const s = supervise(...args);
    cleanups.push(() => s.stop());
    return s;
  }

  it('routes two named fds to two backends with --route', async () => {
    const web = await backendWith((s) => s.end('from web'));
    const admin = await backendWith((s) => s.end('from admin'));
    const sup = supervised(
      [
        { address: loopback, type: 'stream', name: 'web' },
        { address: loopback, type: 'stream', name: 'admin' },
      ],
      ['--route', `web=${web.address}`, '--route', `admin=${admin.address}`],
    );
    const [webPort, adminPort] = [sup.activator.port(0), sup.activator.port(1)];
    expect((await sendAndCollect(dial(webPort), Buffer.alloc(0))).received.toString()).toBe('from web');
    expect((await sendAndCollect(dial(adminPort), Buffer.alloc(0))).received.toString()).toBe('from admin');
  });

  it('sends unrouted fds to the positional BACKEND', async () => {
    const web = await backendWith((s) => s.end('from web'));
    const fallback = await backendWith((s) => s.end('from default'));
    const sup = supervised(
      [
        { address: loopback, type: 'stream', name: 'web' },
        { address: loopback, type: 'stream', name: 'other' },
      ],
      ['--route', `web=${web.address}`, fallback.address],
    );
    expect((await sendAndCollect(dial(sup.activator.port(1)), Buffer.alloc(0))).received.toString()).toBe(
      'from default',
    );
  });

  it('exits 78 naming a named fd that has no route and no default backend', async () => {
    const sup = supervised(
      [
        { address: loopback, type: 'stream', name: 'web' },
        { address: loopback, type: 'stream', name: 'admin' },
      ],
      ['--route', 'web=127.0.0.1:9'],
      { spawn: 'now', respawn: false },
    );
    const proxy = await sup.nextActivation();
    expect(await proxy.exitStatus()).toBe(78);
    expect(proxy.log.raw.join('\n')).toMatch(
      /fd 4 \(admin\) has no backend: no BACKEND given and no --route admin=BACKEND/,
    );
  });

  it('proxies an Accept=yes connection (systemd-socket-activate -a) and exits when it ends', async () => {
    const backend = await backendWith(echo);
    const port = await freePort();
    const activator = await underSocketActivate(['-a', '-l', `127.0.0.1:${port}`], [backend.address]);
    cleanups.push(() => activator.stop());
    const { received, error } = await sendAndCollect(dial(port), Buffer.from('inetd style'));
    expect(error).toBeNull();
    expect(received.toString()).toBe('inetd style');
    // systemd-socket-activate -a logs each child's exit; ours must be a clean 0.
    await activator.log.waitForRaw(/Child \d+ died with code 0/);
  });

  it('proxies an Accept=yes connection on a unix socket, whose client has no name', async () => {
    const backend = await backendWith(echo);
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const path = join(dir.path, 'inetd.sock');
    const activator = await underSocketActivate(['-a', '-l', path], [backend.address]);
    cleanups.push(() => activator.stop());
    const { received, error } = await sendAndCollect(dial(path), Buffer.from('inetd style, unnamed peer'));
    expect(error).toBeNull();
    expect(received.toString()).toBe('inetd style, unnamed peer');
    await activator.log.waitForRaw(/Child \d+ died with code 0/);
  });

  it('serves TCP and UDP from one activation (mixed LISTEN_FDS) and is idle only when both are', async () => {
    const tcpBackend = await backendWith(echo);
    const udpBackend = await echoBackend('udp4', '127.0.0.1', 'tag');
    cleanups.push(() => udpBackend.close());
    const sup = supervised(
      [
        { address: loopback, type: 'stream', name: 'tcp' },
        { address: loopback, type: 'dgram', name: 'udp' },
      ],
      [
        '--exit-idle-time=400ms',
        '--udp-session-timeout=1s',
        '--route',
        `tcp=${tcpBackend.address}`,
        '--route',
        `udp=127.0.0.1:${udpBackend.port}`,
      ],
      { respawn: false },
    );
    const client = createSocket('udp4');
    cleanups.push(() => client.close());
    expect(await ask(client, 'over udp', sup.activator.port(1))).toMatch(/^\d+\|over udp$/);
    const proxy = await sup.nextActivation();
    const tcp = await sendAndCollect(dial(sup.activator.port(0)), Buffer.from('over tcp'));
    expect(tcp.received.toString()).toBe('over tcp');
    // The TCP side went idle at once, but the UDP session lives for 1 s: no exit before it ends.
    const started = Date.now();
    expect(await proxy.exitStatus()).toBe(0);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('tells systemd READY, STATUS and STOPPING over NOTIFY_SOCKET, in order', async () => {
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const notifyPath = join(dir.path, 'notify.sock');
    // Node has no AF_UNIX datagram sockets; socat receives them (or python3 where socat is missing).
    const receiver = spawn('python3', [
      '-c',
      'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("bound",flush=True)\nwhile True:\n  m=s.recv(4096).decode()\n  print(repr(m),flush=True)',
      notifyPath,
    ]);
    cleanups.push(() => receiver.kill());
    const messages: string[] = [];
    receiver.stdout.setEncoding('utf8');
    let buffered = '';
    const bound = new Promise<void>((resolve) =>
      receiver.stdout.on('data', (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          if (line === 'bound') resolve();
          else messages.push(line);
        }
      }),
    );
    await bound;
    const backend = await backendWith(echo);
    const sup = supervised(
      [{ address: loopback, type: 'stream' }],
      ['--exit-idle-time=300ms', backend.address],
      {
        spawn: 'now',
        respawn: false,
        env: { ...process.env, NOTIFY_SOCKET: notifyPath },
      },
    );
    const proxy = await sup.nextActivation();
    expect(await proxy.exitStatus()).toBe(0);
    const deadline = Date.now() + 5000;
    while (!messages.some((m) => m.includes('STOPPING=1')) && Date.now() < deadline) {
      await once(receiver.stdout, 'data');
    }
    expect(messages[0]).toMatch(/^'READY=1\\nSTATUS=0 connections; 0 bytes in, 0 bytes out'$/);
    expect(messages.at(-1)).toMatch(/^'STOPPING=1\\nSTATUS=stopping \(idle\)/);
  });

  describe('per-connection timers', () => {
    it('--connection-idle-timeout closes a silent connection while a busy one stays', async () => {
      const backend = await backendWith(echo);
      const sup = supervised(
        [{ address: loopback, type: 'stream' }],
        ['--connection-idle-timeout=500ms', backend.address],
      );
      const port = sup.activator.port(0);
      const silent = dial(port);
      const busy = dial(port);
      const chunks: Buffer[] = [];
      silent.on('data', (c: Buffer) => chunks.push(c));
      // The proxy closes with a FIN: our half-open-capable client sees 'end'.
      const silentEnded = once(silent, 'end');
      silent.write('hi');
      const started = Date.now();
      let busyEchoes = 0;
      busy.on('data', () => busyEchoes++);
      const ticker = setInterval(() => busy.write('.'), 100);
      cleanups.push(() => clearInterval(ticker));
      await silentEnded;
      expect(Buffer.concat(chunks).toString()).toBe('hi');
      silent.destroy();
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      clearInterval(ticker);
      expect(busy.destroyed).toBe(false);
      const before = busyEchoes;
      busy.write('still alive');
      await once(busy, 'data');
      expect(busyEchoes).toBeGreaterThan(before);
      busy.destroy();
    });
  });
});
