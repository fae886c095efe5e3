/**
 * The network transparent mode needs, built in three network namespaces of our own: a client, the
 * proxy and a backend on another host, joined by veth pairs created inside them. Only
 * documentation addresses are used, and nothing is routed out of the three.
 *
 *   client 198.51.100.2   ── 198.51.100.1   proxy   203.0.113.1 ── 203.0.113.2   backend
 *          2001:db8:1::2  ── 2001:db8:1::1          2001:db8:2::1 ── 2001:db8:2::2
 *
 * The backend's default route leads to the proxy, so its replies to a client's address arrive
 * there; the proxy's policy routing (README, "Transparent mode") delivers what comes in from the
 * backend locally, to the socket bound to that client's address.
 *
 * Plain JavaScript (typed by topology.d.mts), so that bench/ builds the same network.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';

export const ADDR = Object.freeze({
  client4: '198.51.100.2',
  proxyFront4: '198.51.100.1',
  proxyBack4: '203.0.113.1',
  backend4: '203.0.113.2',
  client6: '2001:db8:1::2',
  proxyFront6: '2001:db8:1::1',
  proxyBack6: '2001:db8:2::1',
  backend6: '2001:db8:2::2',
});

/** The proxy's interface towards the backend, whose incoming traffic the policy rule matches. */
const TO_BACKEND = 'to-backend';
const POLICY_TABLE = '100';

function ip(...args) {
  try {
    execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
  } catch (err) {
    const stderr = err.stderr?.toString().trim() ?? '';
    throw new Error(`ip ${args.join(' ')} failed: ${stderr || String(err)}`);
  }
}

/** The README's policy routing: `match` selects what is delivered locally through the table. */
function policyRouting(ns, verb, match = ['iif', TO_BACKEND]) {
  for (const family of ['-4', '-6']) {
    ip('-n', ns, family, 'rule', verb, ...match, 'lookup', POLICY_TABLE);
    const all = family === '-4' ? '0.0.0.0/0' : '::/0';
    ip('-n', ns, family, 'route', verb, 'local', all, 'dev', 'lo', 'table', POLICY_TABLE);
  }
}

/** The README's nftables alternative: packets of transparent sockets marked, the mark routed locally. */
const NFT_MARK = '0x1';
function nft(ns, ...args) {
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'nft', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 10_000,
    });
  } catch (err) {
    throw new Error(
      `nft ${args.join(' ')} failed (Debian: apt-get install nftables): ${err.stderr?.toString().trim() || String(err)}`,
    );
  }
}

/** Fails with one clear line when namespaces cannot be made here (no root, no iproute2). */
export function createTopology() {
  const tag = `srt-${process.pid}-${randomBytes(3).toString('hex')}`;
  const ns = { client: `${tag}-c`, proxy: `${tag}-p`, backend: `${tag}-b` };
  const made = [];
  const remove = () => {
    rmSync(`/etc/netns/${ns.proxy}`, { recursive: true, force: true });
    try {
      rmdirSync('/etc/netns');
    } catch {
      // In use by other namespaces (or never made): theirs to keep.
    }
    for (const name of made.splice(0).reverse()) {
      try {
        ip('netns', 'del', name);
      } catch {
        // Already gone: nothing left to clean.
      }
    }
  };
  try {
    for (const name of [ns.client, ns.proxy, ns.backend]) {
      try {
        ip('netns', 'add', name);
      } catch (err) {
        throw new Error(`transparent mode's network needs namespaces (root and iproute2): ${err.message}`);
      }
      made.push(name);
      ip('-n', name, 'link', 'set', 'lo', 'up');
    }
    // Made inside the proxy's namespace, the peer end moved straight into the other one.
    const veth = (name, peerNs) =>
      ip('-n', ns.proxy, 'link', 'add', name, 'type', 'veth', 'peer', 'name', 'to-proxy', 'netns', peerNs);
    veth('to-client', ns.client);
    veth(TO_BACKEND, ns.backend);
    const address = (name, dev, v4, v6) => {
      ip('-n', name, 'addr', 'add', `${v4}/24`, 'dev', dev);
      // nodad: usable at once, without the second of duplicate address detection.
      ip('-n', name, 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad');
      ip('-n', name, 'link', 'set', dev, 'up');
    };
    address(ns.client, 'to-proxy', ADDR.client4, ADDR.client6);
    address(ns.proxy, 'to-client', ADDR.proxyFront4, ADDR.proxyFront6);
    address(ns.proxy, TO_BACKEND, ADDR.proxyBack4, ADDR.proxyBack6);
    address(ns.backend, 'to-proxy', ADDR.backend4, ADDR.backend6);
    ip('-n', ns.backend, 'route', 'add', 'default', 'via', ADDR.proxyBack4);
    ip('-n', ns.backend, '-6', 'route', 'add', 'default', 'via', ADDR.proxyBack6);
    policyRouting(ns.proxy, 'add');
  } catch (err) {
    remove();
    throw err;
  }
  return {
    ...ns,
    useNftables: () => {
      policyRouting(ns.proxy, 'del');
      nft(ns.proxy, 'add', 'table', 'inet', 'sockrelay');
      nft(
        ns.proxy,
        'add',
        'chain',
        'inet',
        'sockrelay',
        'prerouting',
        '{ type filter hook prerouting priority mangle; }',
      );
      nft(
        ns.proxy,
        'add',
        'rule',
        'inet',
        'sockrelay',
        'prerouting',
        'socket',
        'transparent',
        '1',
        'meta',
        'mark',
        'set',
        NFT_MARK,
      );
      policyRouting(ns.proxy, 'add', ['fwmark', NFT_MARK]);
      return () => {
        policyRouting(ns.proxy, 'del', ['fwmark', NFT_MARK]);
        nft(ns.proxy, 'delete', 'table', 'inet', 'sockrelay');
        policyRouting(ns.proxy, 'add');
      };
    },
    hostsInProxy: (text) => {
      // `ip netns exec` bind-mounts /etc/netns/NAME/hosts over /etc/hosts for what it runs.
      mkdirSync(`/etc/netns/${ns.proxy}`, { recursive: true });
      writeFileSync(`/etc/netns/${ns.proxy}/hosts`, text);
    },
    routeLocalBackend: (address, port, protocol = 'tcp') => {
      const family = address.includes(':') ? '-6' : '-4';
      const rule = ['-n', ns.proxy, family, 'rule'];
      const match = ['from', address, 'ipproto', protocol, 'sport', String(port), 'lookup', POLICY_TABLE];
      ip(...rule, 'add', ...match);
      return () => ip(...rule, 'del', ...match);
    },
    withoutPolicyRouting: () => policyRouting(ns.proxy, 'del'),
    addPolicyRouting: () => policyRouting(ns.proxy, 'add'),
    remove,
  };
}
