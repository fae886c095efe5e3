// Numbers: medians, /proc readings, formatting.
import { readdirSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** VmRSS of `pid` in KiB, or null if the process is gone. */
export function rssKiB(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

let clkTck = null;

/** CPU time (user + system, all threads) `pid` has used so far, in ms; null if it is gone. */
export function cpuMs(pid) {
  clkTck ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 })) || 100;
  try {
    // Fields after "(comm)": state is [0], utime [11], stime [12]; comm may contain spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / clkTck;
  } catch {
    return null;
  }
}

/**
 * How often `pid` went to sleep and was woken again so far: voluntary context switches, summed over
 * its threads (a thread blocked in epoll_wait that is woken counts one). null if it is gone.
 */
export function wakeups(pid) {
  let tids;
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  let sum = 0;
  for (const tid of tids) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      sum += Number(status.match(/^voluntary_ctxt_switches:\s+(\d+)/m)?.[1] ?? 0);
    } catch {
      // A thread that ended meanwhile; its switches are gone with it.
    }
  }
  return sum;
}

/** Basename of the executable `pid` runs now (changes when socket-activate execs the proxy). */
export function comm(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

export function fmt(x, digits = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  return Number(x.toPrecision(digits)).toString();
}
