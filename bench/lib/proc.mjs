// Child processes of the benchmark. Every child gets its own process group (detached), so one
// kill(-pgid) ends it together with anything it forked (nginx workers, iperf3 streams), and a
// Ctrl-C in the terminal reaches only us: we then end every group we started, and nothing else.
import { spawn } from 'node:child_process';

const live = new Set();
let hooked = false;

function hookExit() {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const p of live) killGroup(p, 'SIGKILL');
  });
}

function killGroup(p, signal) {
  if (p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(-p.pid, signal);
  } catch {
    try {
      p.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Spawns argv[0] with argv.slice(1). Output is kept (bounded) on the returned handle, so a failure
 * can say what the tool printed. `handle.exited` resolves with { code, signal } and never rejects.
 */
export function start(argv, { cwd, env, stdin = 'ignore', keep = 64 * 1024 } = {}) {
  hookExit();
  const child = spawn(argv[0], argv.slice(1), {
    cwd,
    env: env ?? process.env,
    stdio: [stdin, 'pipe', 'pipe'],
    detached: true,
  });
  live.add(child);
  const out = { stdout: '', stderr: '' };
  const drained = Promise.all(
    ['stdout', 'stderr'].map((name) => new Promise((resolve) => child[name].once('close', resolve))),
  );
  for (const name of ['stdout', 'stderr']) {
    child[name].setEncoding('utf8');
    child[name].on('data', (s) => {
      if (out[name].length < keep) out[name] += s.slice(0, keep - out[name].length);
    });
  }
  const exited = new Promise((resolve) => {
    child.on('error', (err) => {
      live.delete(child);
      resolve({ code: null, signal: null, error: err });
    });
    child.on('exit', (code, signal) => {
      live.delete(child);
      handle.result = { code, signal };
      resolve({ code, signal });
    });
  });
  const handle = {
    argv,
    child,
    /** { code, signal } once exited, else null. */
    result: null,
    get pid() {
      return child.pid;
    },
    out,
    exited,
    /** Resolves once both output pipes have closed (all output is in `out`). */
    drained,
    get running() {
      return live.has(child);
    },
    /** Resolves with the first match of `re` on the stream; rejects on exit or timeout. */
    waitFor(stream, re, ms, what = String(re)) {
      return waitForOutput(child, out, stream, re, ms, what, exited);
    },
    /** SIGTERM to the group, then SIGKILL after `grace` ms; resolves when the leader has exited. */
    async stop(grace = 2000) {
      if (!live.has(child)) return exited;
      killGroup(child, 'SIGTERM');
      const t = setTimeout(() => killGroup(child, 'SIGKILL'), grace);
      const r = await exited;
      clearTimeout(t);
      // The leader is gone; make sure no forked member of its group lingers.
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* group empty */
      }
      return r;
    },
  };
  return handle;
}

function waitForOutput(child, out, stream, re, ms, what, exited) {
  const m = out[stream].match(re);
  if (m) return Promise.resolve(m);
  return new Promise((resolve, reject) => {
    const onData = () => {
      const mm = out[stream].match(re);
      if (mm) finish(null, mm);
    };
    const timer = setTimeout(() => finish(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    function finish(err, val) {
      clearTimeout(timer);
      child[stream].off('data', onData);
      if (err) reject(err);
      else resolve(val);
    }
    child[stream].on('data', onData);
    exited.then((r) =>
      finish(
        new Error(
          `${child.spawnfile} exited (${r.error?.message ?? r.code ?? r.signal}) before ${what}: ${tail(out.stderr || out.stdout)}`,
        ),
      ),
    );
  });
}

/** Runs argv to completion within `ms`; resolves { code, signal, stdout, stderr, timedOut }. */
export async function run(argv, { ms, ...opts } = {}) {
  const h = start(argv, opts);
  let timedOut = false;
  const t = setTimeout(() => {
    timedOut = true;
    h.stop(1000);
  }, ms);
  const r = await h.exited;
  clearTimeout(t);
  // Let the pipes deliver what the child wrote just before exiting (bounded: a grandchild could
  // hold them open).
  await Promise.race([h.drained, new Promise((r) => setTimeout(r, 2000).unref())]);
  return { ...r, stdout: h.out.stdout, stderr: h.out.stderr, timedOut };
}

/** Ends every child still running (used on SIGINT/SIGTERM and at the end of a run). */
export async function stopAll(grace = 1500) {
  await Promise.all(
    [...live].map((child) => {
      killGroup(child, 'SIGTERM');
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          killGroup(child, 'SIGKILL');
          resolve();
        }, grace);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }),
  );
}

export function tail(s, n = 400) {
  s = String(s ?? '').trim();
  return s.length > n ? '…' + s.slice(-n) : s;
}
