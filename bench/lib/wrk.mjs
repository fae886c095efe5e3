// wrk runner and output parser, shared by the keep-alive and churn workloads.
import { run, tail } from './proc.mjs';
import { HOST } from './net.mjs';

// netns: run wrk inside that network namespace, against `host` there (transparent workload).
export async function wrk(
  port,
  path,
  { duration, connections = 50, threads = 2, headers = [], host = HOST, netns = null },
) {
  const argv = [
    ...(netns ? ['ip', 'netns', 'exec', netns] : []),
    ...['wrk', `-t${threads}`, `-c${connections}`, `-d${duration}s`, '--timeout', '5s'],
  ];
  for (const h of headers) argv.push('-H', h);
  argv.push(`http://${host}:${port}${path}`);
  const r = await run(argv, { ms: (duration + 15) * 1000 });
  if (r.timedOut) throw new Error(`wrk did not finish within ${duration + 15} s`);
  const rps = r.stdout.match(/^Requests\/sec:\s+([\d.]+)/m);
  if (r.code !== 0 || !rps)
    throw new Error(`wrk failed (${r.code ?? r.signal}): ${tail(r.stderr || r.stdout)}`);
  const sock = r.stdout.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const non2xx = r.stdout.match(/Non-2xx or 3xx responses: (\d+)/);
  const total = r.stdout.match(/(\d+) requests in/);
  const errors = {
    connect: Number(sock?.[1] ?? 0),
    read: Number(sock?.[2] ?? 0),
    write: Number(sock?.[3] ?? 0),
    timeout: Number(sock?.[4] ?? 0),
    non2xx: Number(non2xx?.[1] ?? 0),
  };
  return { rps: Number(rps[1]), requests: Number(total?.[1] ?? 0), errors };
}
