// Idle memory: VmRSS of the proxy process with 1 and with N idle connections through it, each read
// once the proxy has settled (see settledRssKiB): a proxy that finishes its start-up after it
// serves (sockrelay loads its logger then) must not have that counted per connection.
// The connections (and the sink they reach) live in a helper process with a raised fd limit; the
// proxy gets the same raised limit and a connection cap above N. That is a favour to
// systemd-socket-proxyd, which never raises its soft limit (1024) and caps at 256 by default.
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { start, tail } from '../lib/proc.mjs';
import { startSubject } from '../lib/subjects.mjs';
import { rssKiB, comm } from '../lib/stats.mjs';

const HELPER = fileURLToPath(new URL('../lib/idle-conns.mjs', import.meta.url));

export const name = 'idle';
export const description = 'RSS of the proxy with 1 and with N idle connections (default 5000)';

export function cases(opts) {
  const n = opts.idleConns;
  return [
    {
      id: 'idle',
      // Nothing to measure without a proxy process.
      subjects: (s) => s.kind !== 'direct',
      metrics: [
        { id: 'idle-rss-1', label: 'RSS, 1 idle conn', unit: 'MB', better: 'lower' },
        { id: 'idle-rss-n', label: `RSS, ${n} idle conns`, unit: 'MB', better: 'lower' },
        { id: 'idle-per-conn', label: 'RSS per extra idle conn', unit: 'KB', better: 'lower' },
      ],
      run: (ctx, subject) => measure(ctx, subject, n),
    },
  ];
}

/** Line-based request/response with the helper; every answer awaited with a deadline. */
function talk(helper) {
  const lines = readline.createInterface({ input: helper.child.stdout });
  const queue = [];
  const waiters = [];
  lines.on('line', (l) => (waiters.length ? waiters.shift()(l) : queue.push(l)));
  const next = (ms) =>
    queue.length
      ? Promise.resolve(queue.shift())
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`idle helper silent for ${ms} ms`)), ms);
          waiters.push((l) => {
            clearTimeout(t);
            resolve(l);
          });
          helper.exited.then(() => {
            clearTimeout(t);
            reject(new Error(`idle helper exited: ${tail(helper.out.stderr)}`));
          });
        });
  return {
    next,
    async ask(cmd, ms) {
      helper.child.stdin.write(cmd + '\n');
      const l = await next(ms);
      if (l.startsWith('error ')) throw new Error(l.slice(6));
      return l;
    },
  };
}

/** RSS once it has read the same SETTLED_READS times in a row, POLL_MS apart (at most SETTLE_MAX_MS). */
const POLL_MS = 100;
const SETTLED_READS = 3;
const SETTLE_MAX_MS = 3000;
async function settledRssKiB(pid) {
  let last = rssKiB(pid);
  let same = 1;
  for (let waited = 0; same < SETTLED_READS && waited < SETTLE_MAX_MS; waited += POLL_MS) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const now = rssKiB(pid);
    same = now === last ? same + 1 : 1;
    last = now;
  }
  return last;
}

async function measure(ctx, subject, n) {
  const fdLimit = ctx.subjectOpts.fdLimit;
  const argv = [process.execPath, HELPER];
  const helper = start(fdLimit ? ['prlimit', `--nofile=${fdLimit}:${fdLimit}`, '--', ...argv] : argv, {
    stdin: 'pipe',
  });
  // 'pipe' stdout is consumed by readline below, not by the handle's buffer.
  let proxy;
  try {
    const io = talk(helper);
    const sinkPort = Number((await io.next(5000)).replace(/^sink /, ''));
    proxy = await startSubject(subject, sinkPort, { ...ctx.subjectOpts, maxConns: n + 100 });
    const gone = proxy.proc.exited.then(() => {
      throw new Error('proxy exited');
    });
    gone.catch(() => {});
    await Promise.race([io.ask(`open ${proxy.port} 1`, 10_000), gone]);
    const proc = comm(proxy.pid);
    const rss1 = await settledRssKiB(proxy.pid);
    await Promise.race([io.ask(`open ${proxy.port} ${n}`, 90_000), gone]);
    const rssN = await settledRssKiB(proxy.pid);
    if (rss1 === null || rssN === null) {
      throw new Error(`proxy pid ${proxy.pid} is gone`);
    }
    await io.ask('close', 10_000);
    return {
      values: {
        'idle-rss-1': rss1 / 1024,
        'idle-rss-n': rssN / 1024,
        'idle-per-conn': (rssN - rss1) / (n - 1),
      },
      details: { comm: proc, rss1KiB: rss1, rssNKiB: rssN, connections: n },
    };
  } finally {
    await proxy?.stop();
    helper.child.stdin.end();
    await Promise.race([once(helper.child, 'exit'), new Promise((r) => setTimeout(r, 2000).unref())]);
    await helper.stop();
  }
}
