/**
 * Transparent mode (issue 16): the backend's accept() and recvfrom() return the client's own address
 * and port, TCP and UDP, IPv4 and IPv6, with every byte intact and the half-close kept; and each way
 * it can go wrong says so, never falling back to the proxy's address. sockrelay runs under
 * systemd-socket-activate in the proxy's namespace of a topology built here (topology.mjs).
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { endSuccessorAtCleanup } from '../helpers/reloading.js';
import { CLI, type RunningProcess } from '../helpers/proxy.js';
import { backendPeer, peer, proxyIn, type Peer } from './peers.js';
import { ADDR, createTopology, type Topology } from './topology.mjs';
import { has } from '../helpers/requires.js';

const PORT = 8080;
const MiB = 1024 * 1024;
/** Drops both capabilities that permit IP_TRANSPARENT, for the process and all it execs. */
const WITHOUT_CAPABILITY = [
  'setpriv',
  '--inh-caps=-all',
  '--ambient-caps=-all',
  '--bounding-set=-net_admin,-net_raw',
  '--',
];

const METRICS_PORT = 9464;

/** GET `url` from inside namespace `ns`. */
function scrape(ns: string, url: string): string {
  const get = `fetch(${JSON.stringify(url)}).then((r) => r.text()).then((t) => process.stdout.write(t))`;
  return spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', get], {
    encoding: 'utf8',
    timeout: 10_000,
  }).stdout;
}

/**
 * The TCP client's run, checked: the backend accepted exactly the client's address and port, every
 * byte came back, and the backend's trailer, written after the client's FIN reached it, too.
 */
async function expectKeptAndIntact(user: Peer, server: Peer, client: string, nth = 1): Promise<void> {
  const connected = await user.next('connected');
  expect(connected.address).toBe(client);
  expect(await server.next('accepted', nth)).toEqual({
    event: 'accepted',
    address: client,
    port: connected.port,
  });
  const done = await user.next('done');
  expect(done.error).toBeNull();
  expect(done.echoed).toBe(done.sent);
  expect(done.trailer).toBe(`${String(done.sent)}\n`);
}

describe.skipIf(!has('root', 'ip', 'systemd-socket-activate'))('transparent mode', () => {
  let net: Topology;
  const cleanups = useCleanups();
  const track = <T extends Peer | RunningProcess>(x: T): T => {
    cleanups.push(() => x.stop());
    return x;
  };

  beforeAll(() => {
    net = createTopology();
  });
  afterAll(() => net?.remove());

  const bracket = (host: string) => (host.includes(':') ? `[${host}]` : host);

  describe.each([
    { family: 'IPv4', client: ADDR.client4, front: ADDR.proxyFront4, backend: ADDR.backend4 },
    { family: 'IPv6', client: ADDR.client6, front: ADDR.proxyFront6, backend: ADDR.backend6 },
  ])('over $family', ({ client, front, backend }) => {
    it('TCP: the backend accepts the client’s own address and port; 1 MiB sha256-intact both ways, half-close kept', async () => {
      const server = track(await backendPeer(net.backend, 'tcp-backend', backend, PORT));
      const proxy = track(
        await proxyIn(
          net.proxy,
          ['-l', `${bracket(front)}:${PORT}`],
          ['--transparent', `${bracket(backend)}:${PORT}`],
        ),
      );
      const user = track(peer(net.client, 'tcp-client', front, PORT, MiB));

      await expectKeptAndIntact(user, server, client);
      const started = await proxy.log.waitFor('sockrelay started');
      expect(started.listeners).toMatchObject([{ transparent: true }]);
    });

    it('UDP: the backend receives from the client’s own address and port, and its reply comes back', async () => {
      const server = track(await backendPeer(net.backend, 'udp-backend', backend, PORT));
      track(
        await proxyIn(
          net.proxy,
          ['-d', '-l', `${bracket(front)}:${PORT}`],
          ['--transparent', `${bracket(backend)}:${PORT}`],
        ),
      );
      const user = track(peer(net.client, 'udp-client', front, PORT, 1200));

      const connected = await user.next('connected');
      const received = await server.next('datagram');
      expect(received).toEqual({ event: 'datagram', address: client, port: connected.port });
      const done = await user.next('done');
      expect(done.echoed).toBe(done.sent);
    });
  });

  it.skipIf(!has('nft')).each([
    { family: 'IPv4', client: ADDR.client4, front: ADDR.proxyFront4, backend: ADDR.backend4 },
    { family: 'IPv6', client: ADDR.client6, front: ADDR.proxyFront6, backend: ADDR.backend6 },
  ])(
    'works with the nftables alternative to the iif rule too ($family, TCP and UDP)',
    async ({ client, front, backend }) => {
      cleanups.push(net.useNftables());
      const tcp = track(await backendPeer(net.backend, 'tcp-backend', backend, PORT));
      const udp = track(await backendPeer(net.backend, 'udp-backend', backend, PORT));
      track(
        await proxyIn(
          net.proxy,
          ['-l', `${bracket(front)}:${PORT}`],
          ['--transparent', `${bracket(backend)}:${PORT}`],
        ),
      );
      track(
        await proxyIn(
          net.proxy,
          ['-d', '-l', `${bracket(front)}:${PORT}`],
          ['--transparent', `${bracket(backend)}:${PORT}`],
        ),
      );

      await expectKeptAndIntact(track(peer(net.client, 'tcp-client', front, PORT, 64 * 1024)), tcp, client);
      const user = track(peer(net.client, 'udp-client', front, PORT, 100));
      const connected = await user.next('connected');
      expect(await udp.next('datagram')).toEqual({
        event: 'datagram',
        address: client,
        port: connected.port,
      });
      expect((await user.next('done')).echoed).toBe((await user.next('done')).sent);
    },
  );

  it('a reload (SIGHUP) hands a live transparent connection over: one backend connection from the client, bytes intact', async () => {
    const server = track(await backendPeer(net.backend, 'tcp-backend', ADDR.backend4, PORT));
    const proxy = track(
      await proxyIn(
        net.proxy,
        ['-l', `${ADDR.proxyFront4}:${PORT}`],
        ['--transparent', '--exit-idle-time=infinity', `${ADDR.backend4}:${PORT}`],
      ),
    );
    const user = track(peer(net.client, 'tcp-session', ADDR.proxyFront4, PORT));
    const connected = await user.next('connected');
    user.tell('send 262144');
    await user.next('echoed', 1);

    proxy.child.kill('SIGHUP');
    endSuccessorAtCleanup(proxy, cleanups);
    await proxy.log.waitFor((l) => l.msg === 'resumed handed-over connections' && l.connections === 1);
    user.tell('send 262144');
    await user.next('echoed', 2);
    user.tell('end');
    const done = await user.next('done');
    expect(done.echoed).toBe(done.sent);
    expect(done.trailer).toBe(`${String(done.sent)}\n`);
    expect(server.events.filter((e) => e.event === 'accepted')).toEqual([
      { event: 'accepted', address: ADDR.client4, port: connected.port },
    ]);
    // The new program is transparent too.
    await expectKeptAndIntact(
      track(peer(net.client, 'tcp-client', ADDR.proxyFront4, PORT, 10)),
      server,
      ADDR.client4,
      2,
    );
  });

  it('a reload (SIGHUP) hands a transparent UDP session over: the backend still sees the client, replies still come back', async () => {
    const server = track(await backendPeer(net.backend, 'udp-backend', ADDR.backend6, PORT));
    const proxy = track(
      await proxyIn(
        net.proxy,
        ['-d', '-l', `[${ADDR.proxyFront6}]:${PORT}`],
        ['--transparent', '--exit-idle-time=infinity', `[${ADDR.backend6}]:${PORT}`],
      ),
    );
    const user = track(peer(net.client, 'udp-session', ADDR.proxyFront6, PORT));
    const connected = await user.next('connected');
    const client = { event: 'datagram', address: ADDR.client6, port: connected.port };
    user.tell('send 300');
    expect(await user.next('echoed', 1)).toEqual({ event: 'echoed', intact: true });

    proxy.child.kill('SIGHUP');
    endSuccessorAtCleanup(proxy, cleanups);
    await proxy.log.waitFor((l) => l.msg === 'resumed handed-over connections' && l.sessions === 1);
    user.tell('send 300');
    expect(await user.next('echoed', 2)).toEqual({ event: 'echoed', intact: true });
    expect(server.events.filter((e) => e.event === 'datagram')).toEqual([client, client]);
  });

  it('a backend name with both families: each client is kept towards the address of its own family', async () => {
    net.hostsInProxy(`${ADDR.backend6} backend.test\n${ADDR.backend4} backend.test\n`);
    const server4 = track(await backendPeer(net.backend, 'tcp-backend', ADDR.backend4, PORT));
    const server6 = track(await backendPeer(net.backend, 'tcp-backend', ADDR.backend6, PORT));
    const proxy = track(
      await proxyIn(net.proxy, ['-l', `[::]:${PORT}`], ['--transparent', `backend.test:${PORT}`]),
    );
    await expectKeptAndIntact(
      track(peer(net.client, 'tcp-client', ADDR.proxyFront4, PORT, 1000)),
      server4,
      ADDR.client4,
    );
    await expectKeptAndIntact(
      track(peer(net.client, 'tcp-client', ADDR.proxyFront6, PORT, 1000)),
      server6,
      ADDR.client6,
    );
    expect(server4.events.filter((e) => e.event === 'accepted')).toHaveLength(1);
    expect(server6.events.filter((e) => e.event === 'accepted')).toHaveLength(1);
    // The address of the other family was skipped quietly: no attempt towards it failed loudly.
    expect(proxy.log.lines.filter((l) => l.level >= 40)).toEqual([]);
  });

  it('Happy Eyeballs: a second attempt binds the same client address and port while the first still waits, and wins', async () => {
    // 203.0.113.3 is on the backend's link but nobody has it: its SYN is never answered. (It shares
    // as long a prefix with the proxy's address as the backend's, so getaddrinfo keeps it first.)
    net.hostsInProxy(`203.0.113.3 backend.test\n${ADDR.backend4} backend.test\n`);
    const server = track(await backendPeer(net.backend, 'tcp-backend', ADDR.backend4, PORT));
    track(
      await proxyIn(
        net.proxy,
        ['-l', `${ADDR.proxyFront4}:${PORT}`],
        ['--transparent', `backend.test:${PORT}`],
      ),
    );
    await expectKeptAndIntact(
      track(peer(net.client, 'tcp-client', ADDR.proxyFront4, PORT, 1000)),
      server,
      ADDR.client4,
    );
  });

  it('a backend with no address of the client’s family: refused at once with a warning saying so, TCP and UDP', async () => {
    const backend = `[${ADDR.backend6}]:${PORT}`;
    // With no connect deadline at all, a connection held for a retry would never be answered: the
    // client's close below can only come from the relay refusing it at once.
    const tcp = track(
      await proxyIn(
        net.proxy,
        ['-l', `${ADDR.proxyFront4}:${PORT}`],
        ['--transparent', '--connect-timeout=infinity', backend],
      ),
    );
    const udp = track(
      await proxyIn(net.proxy, ['-d', '-l', `${ADDR.proxyFront4}:${PORT}`], ['--transparent', backend]),
    );
    const user = track(peer(net.client, 'tcp-client', ADDR.proxyFront4, PORT, 10));
    expect((await user.next('done')).trailer).toBe('');
    const warning = await tcp.log.waitFor((l) => l.level === 40);
    expect(warning).toMatchObject({ code: 'EAFNOSUPPORT', transparent: true });
    expect(warning.msg).toMatch(
      /no address of the client's family: an IPv4 client cannot keep its address towards IPv6/,
    );

    track(peer(net.client, 'udp-client', ADDR.proxyFront4, PORT, 10));
    const refused = await udp.log.waitFor((l) => l.level === 40);
    expect(refused).toMatchObject({ code: 'EAFNOSUPPORT', transparent: true });
    expect(refused.msg).toMatch(
      /^transparent UDP session refused: the backend has no address of the client's family/,
    );
  });

  it('metrics count the client’s bytes, and idle exit comes as without transparent mode', async () => {
    const server = track(await backendPeer(net.backend, 'tcp-backend', ADDR.backend4, PORT));
    const proxy = track(
      await proxyIn(
        net.proxy,
        ['-l', `${ADDR.proxyFront4}:${PORT}`],
        [
          '--transparent',
          '--exit-idle-time=2s',
          `--metrics-listen=${ADDR.proxyFront4}:${METRICS_PORT}`,
          `${ADDR.backend4}:${PORT}`,
        ],
      ),
    );
    // Scraped while the connection is still open: once it closes, the idle timer runs and a slow
    // scrape could find the proxy already gone.
    const user = track(peer(net.client, 'tcp-session', ADDR.proxyFront4, PORT));
    const connected = await user.next('connected');
    expect(connected.address).toBe(ADDR.client4);
    expect(await server.next('accepted')).toEqual({
      event: 'accepted',
      address: ADDR.client4,
      port: connected.port,
    });
    user.tell('send 100000');
    await user.next('echoed');
    const metrics = scrape(net.proxy, `http://${ADDR.proxyFront4}:${METRICS_PORT}/metrics`);
    user.tell('end');
    const done = await user.next('done');
    expect(done.echoed).toBe(done.sent);
    expect(done.trailer).toBe(`${String(done.sent)}\n`);
    expect(metrics).toMatch(
      /^sockrelay_forwarded_bytes_total\{[^}]*direction="client_to_backend"[^}]*\} 100000$/m,
    );
    expect(metrics).toMatch(/^sockrelay_connections_accepted_total\{[^}]*\} 1$/m);
    expect(await proxy.exitStatus()).toBe(0);
  });

  it('keeps an IPv4 client of a dual-stack [::] socket as IPv4 towards an IPv4 backend', async () => {
    const server = track(await backendPeer(net.backend, 'tcp-backend', ADDR.backend4, PORT));
    track(await proxyIn(net.proxy, ['-l', `[::]:${PORT}`], ['--transparent', `${ADDR.backend4}:${PORT}`]));
    const user = track(peer(net.client, 'tcp-client', ADDR.proxyFront4, PORT, 4096));

    await expectKeptAndIntact(user, server, ADDR.client4);
  });

  it.each([
    { family: 'IPv4', client: ADDR.client4, front: ADDR.proxyFront4, local: '127.0.0.1' },
    { family: 'IPv6', client: ADDR.client6, front: ADDR.proxyFront6, local: '::1' },
  ])(
    'a backend on the proxy’s own host ($local) sees the $family client, with the same-host rule',
    async ({ client, front, local }) => {
      const server = track(await backendPeer(net.proxy, 'tcp-backend', local, PORT + 2));
      cleanups.push(net.routeLocalBackend(local, PORT + 2));
      track(
        await proxyIn(
          net.proxy,
          ['-l', `${bracket(front)}:${PORT}`],
          ['--transparent', `${bracket(local)}:${PORT + 2}`],
        ),
      );
      const user = track(peer(net.client, 'tcp-client', front, PORT, 64 * 1024));

      await expectKeptAndIntact(user, server, client);
    },
  );

  it('a UDP backend on the proxy’s own host sees the client, with the same-host rule for udp', async () => {
    const server = track(await backendPeer(net.proxy, 'udp-backend', '127.0.0.1', PORT + 2));
    cleanups.push(net.routeLocalBackend('127.0.0.1', PORT + 2, 'udp'));
    track(
      await proxyIn(
        net.proxy,
        ['-d', '-l', `${ADDR.proxyFront4}:${PORT}`],
        ['--transparent', `127.0.0.1:${PORT + 2}`],
      ),
    );
    const user = track(peer(net.client, 'udp-client', ADDR.proxyFront4, PORT, 500));
    const connected = await user.next('connected');
    expect(await server.next('datagram')).toEqual({
      event: 'datagram',
      address: ADDR.client4,
      port: connected.port,
    });
    const done = await user.next('done');
    expect(done.echoed).toBe(done.sent);
  });

  it('an Accept=yes connection (systemd-socket-activate -a) keeps its client too', async () => {
    const server = track(await backendPeer(net.backend, 'tcp-backend', ADDR.backend4, PORT));
    track(
      await proxyIn(
        net.proxy,
        ['-a', '-l', `${ADDR.proxyFront4}:${PORT}`],
        ['--transparent', `${ADDR.backend4}:${PORT}`],
      ),
    );
    const user = track(peer(net.client, 'tcp-client', ADDR.proxyFront4, PORT, 4096));

    await expectKeptAndIntact(user, server, ADDR.client4);
  });

  it('transparent=no exempts a route from --transparent: its backend sees the proxy', async () => {
    const server = track(await backendPeer(net.backend, 'tcp-backend', ADDR.backend4, PORT));
    const backend = `${ADDR.backend4}:${PORT}`;
    track(
      await proxyIn(
        net.proxy,
        [
          '-l',
          `${ADDR.proxyFront4}:${PORT}`,
          '-l',
          `${ADDR.proxyFront4}:${PORT + 1}`,
          '--fdname=kept:exempt',
        ],
        ['--transparent', '--route', `kept=${backend}`, '--route', `exempt=${backend},transparent=no`],
      ),
    );
    const kept = track(peer(net.client, 'tcp-client', ADDR.proxyFront4, PORT, 10));
    expect((await server.next('accepted', 1)).address).toBe(ADDR.client4);
    await kept.next('done');
    const exempt = track(peer(net.client, 'tcp-client', ADDR.proxyFront4, PORT + 1, 10));
    expect((await server.next('accepted', 2)).address).toBe(ADDR.proxyBack4);
    expect((await exempt.next('done')).error).toBeNull();
  });

  it('without the policy routing: one warning naming it, counted as a timeout, and the client let go at --connect-timeout', async () => {
    track(await backendPeer(net.backend, 'tcp-backend', ADDR.backend4, PORT));
    net.withoutPolicyRouting();
    cleanups.push(() => net.addPolicyRouting());
    const proxy = track(
      await proxyIn(
        net.proxy,
        ['-l', `${ADDR.proxyFront4}:${PORT}`],
        [
          '--transparent',
          '--connect-timeout=1s',
          `--metrics-listen=${ADDR.proxyFront4}:${METRICS_PORT}`,
          `${ADDR.backend4}:${PORT}`,
        ],
      ),
    );
    const user = track(peer(net.client, 'tcp-client', ADDR.proxyFront4, PORT, 10));

    const warning = await proxy.log.waitFor((l) => l.level === 40);
    expect(warning).toMatchObject({ code: 'ETIMEDOUT', transparent: true, count: 1 });
    expect(warning.msg).toMatch(
      /^transparent backend connect failed: .*not routed back to sockrelay.*policy routing/,
    );
    // Let go by the relay at its deadline, counted as its timeout below; the kernel's SYN retries
    // (~2 min) would not answer the client within this wait at all.
    const done = await user.next('done');
    expect(done.trailer).toBe('');
    expect(scrape(net.proxy, `http://${ADDR.proxyFront4}:${METRICS_PORT}/metrics`)).toMatch(
      /^sockrelay_connections_failed_total\{[^}]*reason="timeout"[^}]*\} 1$/m,
    );
  });

  it('a client on the proxy’s own host cannot keep its address: refused with a warning, not proxied from ours', async () => {
    const server = track(await backendPeer(net.backend, 'tcp-backend', ADDR.backend4, PORT));
    const proxy = track(
      await proxyIn(
        net.proxy,
        ['-l', `${ADDR.proxyFront4}:${PORT}`],
        ['--transparent', `${ADDR.backend4}:${PORT}`],
      ),
    );
    const local = track(peer(net.proxy, 'tcp-client', ADDR.proxyFront4, PORT, 10));

    const warning = await proxy.log.waitFor((l) => l.level === 40);
    expect(warning).toMatchObject({ code: 'EADDRINUSE', transparent: true });
    expect(warning.msg).toMatch(/in use on this host/);
    expect((await local.next('done')).trailer).toBe('');
    expect(server.events.filter((e) => e.event === 'accepted')).toEqual([]);
  });

  it.each(['NET_ADMIN', 'NET_RAW'])(
    'runs as an unprivileged user holding only CAP_%s, ambient (what AmbientCapabilities= gives)',
    async (capability) => {
      const onlyThat = [
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        `--inh-caps=-all,+${capability.toLowerCase()}`,
        `--ambient-caps=-all,+${capability.toLowerCase()}`,
        `--bounding-set=-all,+${capability.toLowerCase()}`,
        '--',
      ];
      const server = track(await backendPeer(net.backend, 'tcp-backend', ADDR.backend4, PORT));
      track(
        await proxyIn(
          net.proxy,
          ['-l', `${ADDR.proxyFront4}:${PORT}`],
          ['--transparent', `${ADDR.backend4}:${PORT}`],
          onlyThat,
        ),
      );
      await expectKeptAndIntact(
        track(peer(net.client, 'tcp-client', ADDR.proxyFront4, PORT, 4096)),
        server,
        ADDR.client4,
      );
    },
  );

  it('without CAP_NET_ADMIN and CAP_NET_RAW: one line naming the capability, exit 78', async () => {
    const proxy = track(
      await proxyIn(
        net.proxy,
        ['-l', `${ADDR.proxyFront4}:${PORT}`],
        ['--transparent', `${ADDR.backend4}:${PORT}`],
        WITHOUT_CAPABILITY,
      ),
    );
    const user = track(peer(net.client, 'tcp-client', ADDR.proxyFront4, PORT, 10));

    expect(await proxy.exitStatus()).toBe(78);
    const lines = proxy.log.raw.filter((l) => l.startsWith('sockrelay:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/transparent mode needs the capability CAP_NET_ADMIN \(or CAP_NET_RAW\).*EPERM/);
    // The waiting client is answered (closed), not left hanging.
    await user.next('done');
  });

  it('a unix-socket backend is refused at start: exit 78, one line', () => {
    const run = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        net.proxy,
        process.execPath,
        CLI,
        '--transparent',
        '--listen',
        `${ADDR.proxyFront4}:${PORT}`,
        '/run/app.sock',
      ],
      { encoding: 'utf8', timeout: 10_000 },
    );
    expect(run.status).toBe(78);
    expect(run.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^sockrelay: fd \d+ \(198\.51\.100\.1:8080\) goes to the unix socket \/run\/app\.sock: transparent mode keeps the client's IP address, and a unix socket has none; set transparent=no on its --route$/,
      ),
    ]);
  });
});
