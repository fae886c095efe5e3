// Where the transparent workload runs: the tests' network of namespaces (test/transparent/
// topology.mjs: client → proxy → backend over veth pairs, documentation addresses only, nothing
// routed out, the proxy's policy routing in place), with nginx in the backend's namespace, the
// proxy socket-activated in the proxy's, and wrk in the client's. Transparent mode needs that:
// on loopback a client cannot keep its address (its own socket holds it). Needs root.
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { ADDR, createTopology } from '../../test/transparent/topology.mjs';
import { SMALL_FILE, startNginx } from './backends.mjs';
import { startSubject } from './subjects.mjs';
import { run } from './proc.mjs';

const FRONT_PORT = 8080;
const BACKEND_PORT = 80;

/** Why the network cannot be built here, or null. */
export function transparentNetUnavailable() {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'needs iproute2 (ip)';
  }
  return null;
}

/** Polls `ss` in namespace `ns` until something listens on TCP `port` (bounded by `ms`). */
async function listeningIn(ns, port, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const r = await run(['ip', 'netns', 'exec', ns, 'ss', '-Htln', `sport = :${port}`], { ms: 5000 });
    if (r.stdout.trim() !== '') return null;
    await sleep(20);
  }
  throw new Error(`nothing listened on port ${port} in ${ns} within ${ms} ms`);
}

/**
 * Builds the network and starts nginx in it. Resolves { via, stop }: `via` is what wrkThrough
 * (workloads/http.mjs) takes to run a subject and wrk there; stop() ends nginx and removes the
 * namespaces, whatever happened.
 */
export async function transparentNet(ctx) {
  const net = createTopology();
  let nginx = null;
  try {
    nginx = await startNginx(ctx.tmp, {
      netns: {
        name: net.backend,
        host: ADDR.backend4,
        port: BACKEND_PORT,
        ready: (port) => listeningIn(net.backend, port),
      },
    });
  } catch (err) {
    net.remove();
    throw err;
  }
  const activate = async () => {
    const get = `fetch('http://${ADDR.proxyFront4}:${FRONT_PORT}${SMALL_FILE}').then((r) => r.text())`;
    const r = await run(['ip', 'netns', 'exec', net.client, process.execPath, '-e', get], { ms: 10_000 });
    if (r.code !== 0) throw new Error(`no first response through the proxy: ${r.stderr.trim()}`);
  };
  return {
    via: {
      start: (subject, args) =>
        startSubject(subject, BACKEND_PORT, {
          ...ctx.subjectOpts,
          args,
          netns: {
            name: net.proxy,
            host: ADDR.proxyFront4,
            port: FRONT_PORT,
            backend: `${ADDR.backend4}:${BACKEND_PORT}`,
          },
        }),
      activate,
      wrk: { host: ADDR.proxyFront4, netns: net.client },
    },
    stop: async () => {
      try {
        await nginx.stop();
      } finally {
        net.remove();
      }
    },
  };
}
