#!/usr/bin/env node
// sockrelay benchmark driver: `npm run bench -- [options]`.
//
// Every subject runs every workload once per round, and rounds alternate between subjects (each
// round also rotates their order), so that noise from the machine - other jobs, thermal drift,
// TIME_WAIT left by the churn test - spreads over all subjects instead of landing on one.
// Medians over rounds are reported; numbers compare only within one run on one machine.
//
// A workload is a module in workloads/ exporting name, description, cases(opts) and optionally
// needs (shared backends). A case names its metrics and measures one subject per call; add a file
// and list it in WORKLOADS to add a workload.
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { stopAll } from './lib/proc.mjs';
import { selectSubjects, speaks, twin, ROOT, SUBJECTS } from './lib/subjects.mjs';
import { startNginx } from './lib/backends.mjs';
import { machine, commitOf } from './lib/machine.mjs';
import { summarise, table } from './lib/report.mjs';
import { fmt } from './lib/stats.mjs';
import { planFds } from './lib/limits.mjs';
import { snapshotBuild } from './lib/snapshot.mjs';
import { smoke } from './lib/smoke.mjs';
import { buildUdpTool } from './lib/udp.mjs';
import * as bulk from './workloads/bulk.mjs';
import * as small from './workloads/small.mjs';
import * as churn from './workloads/churn.mjs';
import * as idle from './workloads/idle.mjs';
import * as cold from './workloads/cold.mjs';
import * as udp from './workloads/udp.mjs';
import * as metricsCost from './workloads/metrics.mjs';
import * as proxyproto from './workloads/proxyproto.mjs';
import * as transparent from './workloads/transparent.mjs';
import * as admission from './workloads/admission.mjs';
import * as admissionUdp from './workloads/admission-udp.mjs';

const WORKLOADS = [
  bulk,
  small,
  churn,
  idle,
  cold,
  udp,
  metricsCost,
  proxyproto,
  transparent,
  admission,
  admissionUdp,
];
// Workloads are TCP unless they say `proto`; each protocol gets its own table and its own subjects.
const protoOf = (w) => w.proto ?? 'tcp';
const PROTOS = ['tcp', 'udp'];
const HERE = path.dirname(fileURLToPath(import.meta.url));

const USAGE = `usage: node bench/run.mjs [options]
  --duration S       seconds per load run (default 5)
  --rounds N         rounds, alternating subjects (default 3)
  --only LIST        workloads: ${WORKLOADS.map((w) => w.name).join(',')} (default all)
  --subjects LIST    ${SUBJECTS.map((s) => s.name).join(',')}
                     (default all); NAME:FLAGS runs a sockrelay subject with extra flags,
                     e.g. sockrelay-splice:--pipe-size=1M beside sockrelay-splice
  --cold-samples N   cold starts per subject per round (default 5)
  --idle-conns N     idle connections for the memory workload (default 5000)
  --baseline DIR     also run each sockrelay subject from the build in DIR (a checkout of another
                     commit, after npm ci) as NAME@baseline, in the same rounds
  --out FILE         JSON results (default bench/results/latest.json)
Workloads:
${WORKLOADS.map((w) => `  ${w.name.padEnd(10)} ${w.description}`).join('\n')}`;

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '3' },
      only: { type: 'string' },
      subjects: { type: 'string' },
      'cold-samples': { type: 'string', default: '5' },
      'idle-conns': { type: 'string', default: '5000' },
      baseline: { type: 'string' },
      out: { type: 'string', default: path.join(HERE, 'results', 'latest.json') },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  const int = (name, min, max) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name} must be an integer in ${min}..${max}`);
    return n;
  };
  const list = (v) =>
    v
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : null;
  const only = list(values.only);
  const unknown = (only ?? []).filter((n) => !WORKLOADS.some((w) => w.name === n));
  if (unknown.length) throw new Error(`unknown workload(s): ${unknown.join(', ')}`);
  return {
    duration: int('duration', 1, 600),
    rounds: int('rounds', 1, 50),
    only,
    subjects: list(values.subjects),
    coldSamples: int('cold-samples', 1, 200),
    idleConns: int('idle-conns', 2, 20_000),
    baseline: values.baseline ? path.resolve(values.baseline) : null,
    out: path.resolve(values.out),
  };
}

// Upper bound of one measurement, in seconds; past it the measurement is abandoned.
function budget(workload, opts) {
  switch (workload.name) {
    case 'bulk':
      return opts.duration + 30;
    case 'idle':
      return 150;
    case 'cold':
      // cold-paired starts two proxies per sample.
      return 15 + opts.coldSamples * 24;
    case 'udp':
      return opts.duration + udp.WARM_S + 30;
    case 'metrics':
    case 'proxyproto':
    case 'transparent':
      return 2 * (opts.duration + 25);
    default:
      return opts.duration + 25;
  }
}

function withTimeout(promise, s, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what} took longer than ${s} s`)), s * 1000);
    }),
  ]).finally(() => clearTimeout(t));
}

const log = (s) => process.stderr.write(s + '\n');

async function main() {
  const opts = options();
  let workloads = WORKLOADS.filter((w) => !opts.only || opts.only.includes(w.name));
  const selected = selectSubjects(opts.subjects);
  // Only subjects that take part in some selected workload (no smoke test for the others).
  selected.run = selected.run.filter((s) => workloads.some((w) => speaks(s, protoOf(w))));
  const skipped = selected.skipped;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sockrelay-bench-'));
  let build = null;
  if (selected.run.some((s) => s.name.startsWith('sockrelay'))) {
    build = snapshotBuild(ROOT, path.join(tmp, 'sockrelay'));
    if (build.error) {
      for (const s of selected.run.filter((s) => s.name.startsWith('sockrelay')))
        skipped[s.name] = build.error;
    }
  }
  let baseline = null;
  if (opts.baseline && !build) throw new Error('--baseline: no sockrelay subject is selected');
  if (opts.baseline && !build.error) {
    baseline = snapshotBuild(opts.baseline, path.join(tmp, 'baseline'));
    if (baseline.error) {
      rmSync(tmp, { recursive: true, force: true });
      throw new Error(`--baseline ${opts.baseline}: ${baseline.error}`);
    }
    baseline.commit = commitOf(opts.baseline);
    // Each twin right after its subject, so the table reads change | baseline.
    selected.run = selected.run.flatMap((s) =>
      s.name.startsWith('sockrelay') ? [s, twin(s, baseline.cli)] : [s],
    );
  }
  const notes = [];
  if (baseline)
    notes.push(
      `NAME@baseline: the build in ${opts.baseline} (${baseline.commit}, dist/ built ${baseline.builtAt})`,
    );
  let udpTool = null;
  let udpToolError = null;
  if (workloads.some((w) => protoOf(w) === 'udp'))
    ({ tool: udpTool, error: udpToolError } = buildUdpTool(tmp));
  const available = { help: build?.help ?? '', udpTool, udpToolError };
  workloads = workloads.filter((w) => {
    const why = w.unavailable?.(available);
    if (why) notes.push(`skipped workload ${w.name}: ${why}`);
    return !why;
  });
  const takesPart = (s) => workloads.some((w) => speaks(s, protoOf(w)));
  const fds = planFds(opts.idleConns);
  const subjectOpts = { fdLimit: fds.fdLimit, cli: build?.cli };
  for (const s of selected.run.filter((s) => !skipped[s.name] && takesPart(s))) {
    const why = await smoke(s, subjectOpts);
    if (why) skipped[s.name] = why;
  }
  const subjects = selected.run.filter((s) => !skipped[s.name] && takesPart(s));
  if (subjects.length === 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error('no subject can run: ' + JSON.stringify(skipped));
  }
  if (fds.conns !== opts.idleConns && workloads.includes(idle)) {
    notes.push(
      `idle: ${opts.idleConns} connections need ~${opts.idleConns * 6} fds in a splice proxy; the hard fd limit here is ${fds.fdLimit} and cannot be raised, so ${fds.conns} were used`,
    );
  }
  for (const [s, why] of Object.entries(skipped)) notes.push(`skipped ${s}: ${why}`);
  opts.idleConnsAsked = opts.idleConns;
  opts.idleConns = fds.conns;
  const cases = workloads.flatMap((w) => w.cases(opts).map((c) => ({ ...c, workload: w })));
  const metrics = cases.flatMap((c) => c.metrics);
  const names = subjects.map((s) => s.name);

  const nginxes = {};
  const ctx = {
    opts,
    tmp,
    udpTool,
    round: 0,
    // Every proxy runs with soft = hard = this fd limit (see lib/limits.mjs).
    subjectOpts: { ...subjectOpts, onStart: (h) => ctx.started.push(h) },
    started: [],
    /** A shared nginx, started on first use (again if it died); { proxyProtocol } for a second one. */
    async nginx(o = {}) {
      const key = o.proxyProtocol ? 'proxy-protocol' : 'plain';
      if (!nginxes[key]?.proc.running) nginxes[key] = await startNginx(tmp, o);
      return nginxes[key];
    },
  };

  const info = machine();
  const samples = {};
  // The same values by round, so each ratio is also taken round by round (paired), with its spread.
  const byRound = {};
  const details = [];
  const errors = [];
  const warnings = [];
  const startedAt = new Date();

  const finish = (interrupted) => {
    const rows = summarise(metrics, names, samples, byRound);
    const result = {
      startedAt: startedAt.toISOString(),
      seconds: Math.round((Date.now() - startedAt) / 1000),
      interrupted,
      machine: info,
      options: { ...opts, out: undefined },
      subjects: names,
      skipped,
      fdLimit: fds.fdLimit,
      sockrelayBuiltAt: build?.builtAt ?? null,
      baseline: baseline && { dir: opts.baseline, commit: baseline.commit, builtAt: baseline.builtAt },
      notes,
      metrics: rows,
      details,
      errors,
      warnings,
    };
    mkdirSync(path.dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, JSON.stringify(result, null, 2) + '\n');
    const out = [
      `## sockrelay bench${interrupted ? ' (interrupted, partial)' : ''}`,
      '',
      `machine: ${info.nproc} × ${info.cpu}, ${info.kernel}, node ${info.node}, load ${info.loadavg.join(' ')}, sockrelay ${info.sockrelayCommit}${build?.builtAt ? ` (dist/ built ${build.builtAt})` : ''}`,
      `run: ${opts.rounds} round(s) × ${opts.duration} s, medians; ratios are sockrelay ÷ socket-proxyd (cold start: ÷ node-naive; UDP: ÷ socat-listen); ↑/↓ = higher/lower is better`,
    ];
    for (const proto of PROTOS) {
      const ids = new Set(
        cases.filter((c) => protoOf(c.workload) === proto).flatMap((c) => c.metrics.map((m) => m.id)),
      );
      const part = rows.filter((r) => ids.has(r.id));
      if (part.length === 0) continue;
      const cols = subjects.filter((s) => speaks(s, proto)).map((s) => s.name);
      out.push('', table(part, cols));
    }
    if (notes.length) out.push('', ...notes.map((n) => `note: ${n}`));
    if (errors.length) {
      out.push('', `errors (${errors.length}):`);
      for (const e of errors) out.push(`- round ${e.round} ${e.case} ${e.subject}: ${e.message}`);
    }
    if (warnings.length) {
      out.push('', `warnings (${warnings.length}):`);
      for (const e of warnings) out.push(`- round ${e.round} ${e.case} ${e.subject}: ${e.message}`);
    }
    out.push('', `JSON: ${path.relative(process.cwd(), opts.out)}`);
    process.stdout.write(out.join('\n') + '\n');
  };

  let stopping = false;
  const onSignal = (sig) => {
    if (stopping) process.exit(130); // second Ctrl-C: the exit hook SIGKILLs what is left
    stopping = true;
    log(`\n${sig}: stopping every process this run started`);
    stopAll().finally(() => {
      rmSync(tmp, { recursive: true, force: true });
      finish(true);
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  log(`subjects: ${names.join(', ')}`);
  for (const n of notes) log(`note: ${n}`);
  log(`workloads: ${workloads.map((w) => w.name).join(', ')}; ${opts.rounds} round(s) × ${opts.duration} s`);
  try {
    for (let round = 1; round <= opts.rounds; round++) {
      const shift = (round - 1) % subjects.length;
      const order = [...subjects.slice(shift), ...subjects.slice(0, shift)];
      ctx.round = round;
      for (const c of cases) {
        for (const subject of order) {
          if (stopping) return;
          if (!speaks(subject, protoOf(c.workload))) continue;
          if (c.subjects && !c.subjects(subject)) continue;
          const s = budget(c.workload, opts);
          const what = `round ${round}/${opts.rounds} ${c.id} ${subject.name}`;
          ctx.started = [];
          try {
            const r = await withTimeout(c.run(ctx, subject), s, what);
            for (const [id, v] of Object.entries(r.values)) {
              ((samples[id] ??= {})[subject.name] ??= []).push(...[v].flat());
              (((byRound[id] ??= {})[subject.name] ??= {})[round] ??= []).push(...[v].flat());
            }
            if (r.details) details.push({ round, case: c.id, subject: subject.name, ...r.details });
            for (const w of r.warnings ?? [])
              warnings.push({ round, case: c.id, subject: subject.name, message: w });
            const shown = Object.entries(r.values).map(([id, v]) => {
              const m = metrics.find((x) => x.id === id);
              return `${Array.isArray(v) ? v.map((x) => fmt(x)).join(' ') : fmt(v)} ${m.unit}`;
            });
            log(`${what}: ${shown.join(', ')}`);
          } catch (err) {
            if (stopping) return;
            const died = ctx.started.map((h) => h.death()).find(Boolean);
            const message = died ? `${err.message} (proxy exited: ${died})` : err.message;
            errors.push({ round, case: c.id, subject: subject.name, message });
            log(`${what}: FAILED ${message}`);
            // A measurement that failed or hung may leave children behind; start from clean.
            await stopAll();
          }
        }
      }
    }
  } finally {
    if (!stopping) {
      await stopAll();
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  if (!stopping) finish(false);
}

main().catch(async (err) => {
  log(`bench: ${err.message}`);
  await stopAll();
  process.exit(1);
});
