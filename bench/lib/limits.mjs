// File-descriptor limits. A splice proxy holds ~6 fds per connection (two sockets, two pipes), so
// thousands of idle connections need more than the usual soft limit. Root may raise the hard limit,
// unless (as in containers without CAP_SYS_RESOURCE) it may not; then the current hard limit is
// the ceiling and the idle workload opens fewer connections.
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export const FDS_PER_CONN = 6;
const SPARE_FDS = 64;

export function hardNofile() {
  const m = readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+\S+\s+(\S+)/m);
  return m && m[1] !== 'unlimited' ? Number(m[1]) : Infinity;
}

function canSet(n) {
  const r = spawnSync('prlimit', [`--nofile=${n}:${n}`, '--', 'true'], { stdio: 'ignore', timeout: 5000 });
  return r.status === 0;
}

/**
 * The fd limit to run proxies and the idle client with, and how many idle connections fit in it.
 * Returns { fdLimit, conns, raised } where fdLimit is null if prlimit is unusable.
 */
export function planFds(wantConns) {
  const want = wantConns * FDS_PER_CONN + SPARE_FDS;
  const hard = hardNofile();
  let fdLimit = null;
  if (want > hard && canSet(want)) fdLimit = want;
  else if (Number.isFinite(hard) && canSet(hard)) fdLimit = hard;
  if (fdLimit === null) return { fdLimit: null, conns: wantConns, raised: false };
  const fit = Math.floor((fdLimit - SPARE_FDS) / FDS_PER_CONN);
  const conns = fit >= wantConns ? wantConns : Math.max(2, Math.floor(fit / 100) * 100);
  return { fdLimit, conns, raised: fdLimit > hard };
}
