// The proxies under test and how each is started. A subject's start() resolves a running handle:
// { port } to send load to, { pid } whose RSS is the proxy's (after activation), and stop().
//
// Socket-activated subjects run as `systemd-socket-activate -l 127.0.0.1:PORT PROXY…` (with -d for
// UDP). Without -a it execs PROXY in place on the first connection (or datagram), so the pid we
// spawned becomes the proxy's pid.
//
// `proto` says which workloads a subject takes part in: 'tcp', 'udp', or 'both' (direct). The UDP
// subjects get a table of their own.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { start } from './proc.mjs';
import { HOST, freePort } from './net.mjs';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// What package.json's bin runs: the launcher, which runs the bundle with its code cache.
const CLI = path.join(ROOT, 'dist/launch.cjs');
const NAIVE = fileURLToPath(new URL('../naive-proxy.mjs', import.meta.url));
const ACTIVATE = 'systemd-socket-activate';
const PROXYD = '/usr/lib/systemd/systemd-socket-proxyd';

const built = () => (existsSync(CLI) ? null : `${path.relative(ROOT, CLI)} not built`);

// o.args: extra CLI options a workload adds (e.g. --metrics-listen). The name keeps "splice", which
// earlier results (and bench/results/) use for the native engine, the only one since issue 11.
const sockrelay = () => ({
  name: 'sockrelay-splice',
  kind: 'activate',
  proto: 'tcp',
  takesFlags: true,
  unavailable: built,
  argv: (backend, o) => [
    process.execPath,
    o.cli ?? CLI,
    ...(o.maxConns ? ['-c', String(o.maxConns)] : []),
    ...(o.args ?? []),
    backend,
  ],
});

// socat binds by itself and says nothing when ready (the UDP workload probes until a reply comes).
const socat = (name, listen, connect) => ({
  name,
  kind: 'listen',
  proto: 'udp',
  announces: false,
  unavailable: () => null,
  argv: (port, backend) => [
    'socat',
    `${listen}:${port},bind=${HOST},fork,reuseaddr`,
    `${connect}:${backend}`,
  ],
});

export const SUBJECTS = [
  { name: 'direct', kind: 'direct', proto: 'both', unavailable: () => null },
  {
    name: 'socket-proxyd',
    kind: 'activate',
    proto: 'tcp',
    unavailable: () => (existsSync(PROXYD) ? null : `${PROXYD} missing`),
    argv: (backend, o) => [PROXYD, ...(o.maxConns ? [`--connections-max=${o.maxConns}`] : []), backend],
  },
  sockrelay(),
  {
    name: 'node-naive',
    kind: 'listen',
    proto: 'tcp',
    unavailable: () => null,
    argv: (port, backend) => [process.execPath, NAIVE, String(port), backend],
    // Under systemd-socket-activate it serves fd 3 (the cold-start workload starts it this way).
    activatedArgv: (backend) => [process.execPath, NAIVE, backend],
  },
  // One process per datagram: what a socat one-liner for UDP usually is.
  socat('socat-recvfrom', 'UDP4-RECVFROM', 'UDP4-SENDTO'),
  // One process per client address, its socket connected to the client: much faster.
  socat('socat-listen', 'UDP4-LISTEN', 'UDP4'),
  {
    name: 'sockrelay-udp',
    kind: 'activate',
    proto: 'udp',
    takesFlags: true,
    unavailable: built,
    argv: (backend, o) => [process.execPath, o.cli ?? CLI, ...(o.args ?? []), backend],
  },
];

/** `subject` as systemd-socket-activate starts it, for a listening subject that can also be activated. */
export function activated(subject) {
  if (subject.kind !== 'listen' || !subject.activatedArgv) return subject;
  return { ...subject, kind: 'activate', argv: (backend) => subject.activatedArgv(backend) };
}

/** Whether `subject` takes part in a workload of protocol `proto` ('tcp' unless it says). */
export const speaks = (subject, proto = 'tcp') => subject.proto === 'both' || subject.proto === proto;

/** Wraps argv so the proxy runs with soft = hard = n open files (root may raise the hard limit). */
function withFdLimit(argv, n) {
  return n ? ['prlimit', `--nofile=${n}:${n}`, '--', ...argv] : argv;
}

/**
 * Starts `subject` in front of 127.0.0.1:backendPort.
 * opts.maxConns: connection cap to pass (socket-proxyd defaults to 256);
 * opts.fdLimit: RLIMIT_NOFILE for the proxy;
 * opts.ready: 'announce' (default) waits until the subject says it listens; 'none' returns at once
 * (cold start measures from the spawn);
 * opts.netns: { name, host, port, backend }: an activated subject runs in that network namespace,
 * listening on host:port, in front of `backend` (lib/transparent-net.mjs).
 */
export async function startSubject(subject, backendPort, opts = {}) {
  const backend = opts.netns?.backend ?? `${HOST}:${backendPort}`;
  const ms = opts.timeoutMs ?? 10_000;
  if (subject.kind === 'direct') {
    return {
      name: subject.name,
      port: backendPort,
      pid: null,
      proc: null,
      stop: async () => {},
      death: () => null,
    };
  }
  const port = opts.netns?.port ?? (await freePort(subject.proto === 'udp' ? 'udp' : 'tcp'));
  let proc;
  if (subject.kind === 'activate') {
    // systemd-socket-activate passes the proxy only TERM, PATH, USER, HOME and what -E names.
    const env = Object.entries(subject.env ?? {}).map(([k, v]) => `--setenv=${k}=${v}`);
    const host = opts.netns?.host ?? HOST;
    const flags = [...(subject.proto === 'udp' ? ['-d'] : []), ...env, '-l', `${host}:${port}`];
    // `ip netns exec` execs too: the pid stays the proxy's.
    const inNetns = opts.netns ? ['ip', 'netns', 'exec', opts.netns.name] : [];
    // SIGPIPE ignored, as systemd starts every service (IgnoreSIGPIPE=yes); env execs in place. With
    // systemd-socket-activate's default, socket-proxyd died of it when a peer closed while it spliced
    // (status 141, 2 of 8 iperf3 -P 4 runs): failed rounds the bench then left out of its ratios.
    const likeSystemd = ['env', '--ignore-signal=PIPE'];
    proc = start(
      withFdLimit(
        [...inNetns, ...likeSystemd, ACTIVATE, ...flags, ...subject.argv(backend, opts)],
        opts.fdLimit,
      ),
      {
        cwd: ROOT,
      },
    );
    if (opts.ready !== 'none') await proc.waitFor('stderr', /Listening on /, ms, `${ACTIVATE} to listen`);
  } else {
    proc = start(withFdLimit(subject.argv(port, backend), opts.fdLimit), { cwd: ROOT });
    if (opts.ready !== 'none' && subject.announces !== false)
      await proc.waitFor('stdout', /^listening /m, ms, `${subject.name} to listen`);
  }
  let stopped = false;
  // Exits that our stop() causes; anything else means the proxy ended by itself. A proxy that
  // dies while we are already stopping it (after a reset we saw first) is caught by its status.
  const byUs = (r) =>
    r.signal === 'SIGTERM' || r.signal === 'SIGKILL' || r.code === 143 || (stopped && r.code === 0);
  const handle = {
    name: subject.name,
    port,
    pid: proc.pid,
    proc,
    stop: () => {
      if (proc.running) stopped = true;
      return proc.stop();
    },
    /** Why the proxy is gone if it exited by itself, else null. */
    death: () => (!proc.result || byUs(proc.result) ? null : proxyLog(proc)),
  };
  opts.onStart?.(handle);
  return handle;
}

/** The proxy's last words, without systemd-socket-activate's own chatter. */
export function proxyLog(proc) {
  const own = /^(Listening on |Communication attempt on fd|Execing |Accepted connection on fd|Failed to )/;
  const lines = proc.out.stderr.split('\n').filter((l) => l.trim() && !own.test(l));
  return lines.slice(-3).join(' | ') || `exited without a word`;
}

/**
 * A subject that carries its own extra flags: `sockrelay-splice:--pipe-size=1M` (flags after the
 * colon, space-separated) runs sockrelay-splice with them before any a workload adds. The full name
 * is the column's name, so one run can set variants side by side with the plain subject.
 */
function variant(base, flags) {
  if (!base.takesFlags) throw new Error(`subject ${base.name} takes no extra flags`);
  const extra = flags.split(/\s+/).filter(Boolean);
  if (extra.length === 0) throw new Error(`subject ${base.name}: no flags after ':'`);
  return {
    ...base,
    name: `${base.name}:${extra.join(' ')}`,
    argv: (backend, o) => base.argv(backend, { ...o, args: [...extra, ...(o.args ?? [])] }),
  };
}

/**
 * The same sockrelay subject run from another build (`--baseline DIR`): `sockrelay-splice@baseline`,
 * its own column beside `sockrelay-splice`, so a change is measured against the build before it in
 * the same rounds, under the same noise, rather than against a table from another day.
 */
export function twin(subject, cli) {
  return {
    ...subject,
    name: `${subject.name}@baseline`,
    argv: (backend, o) => subject.argv(backend, { ...o, cli }),
  };
}

/** The subjects asked for, in SUBJECTS order (variants after their base), split into runnable and skipped (with reasons). */
export function selectSubjects(names) {
  const want = names ?? SUBJECTS.map((s) => s.name);
  const baseOf = (n) => n.split(':')[0];
  const unknown = want.filter((n) => !SUBJECTS.some((s) => s.name === baseOf(n)));
  if (unknown.length) throw new Error(`unknown subject(s): ${unknown.join(', ')}`);
  const run = [];
  const skipped = {};
  for (const base of SUBJECTS) {
    for (const n of want.filter((n) => baseOf(n) === base.name)) {
      const s = n === base.name ? base : variant(base, n.slice(n.indexOf(':') + 1));
      const why = s.unavailable();
      if (why) skipped[s.name] = why;
      else run.push(s);
    }
  }
  return { run, skipped };
}
