/**
 * `sockrelay stop-intent`: the unit's root stop hook (stop-intent.ts says why it exists).
 *
 *   ExecStop=-+/usr/local/bin/sockrelay stop-intent          asks systemd, leaves the answer
 *   ExecStopPost=-+/usr/local/bin/sockrelay stop-intent --clear   removes it
 *
 * Whatever goes wrong here, the main process drains: the hook says why on one line and exits
 * non-zero, which the unit's `-` tells systemd to ignore. The questions to systemd are bounded as
 * a whole (3 s), so a hung bus costs at most that much of TimeoutStopSec=.
 */
import { ExitCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { clearStopIntent, hookTarget, StopIntentError, writeStopIntent } from './stop-intent.js';
import { askUnitJob, busctl, PRIVATE_BUS, type RunBusctl, type UnitJob } from './systemd-job.js';

const QUESTION_MAX_MS = 2000;
const ANSWER_MAX_MS = 3000;

export interface StopHookDeps {
  env: NodeJS.ProcessEnv;
  uid: number;
  /** The buses to ask, in order (tests); systemd's private bus, then the system bus, otherwise. */
  buses?: RunBusctl[];
  dir?: string;
  /** How long all the questions together may take (tests); 3 s otherwise. */
  answerMaxMs?: number;
  /** The service's own logger: the hook's lines land in the unit's journal at their priority. */
  logger: Logger;
}

async function askFirstThatAnswers(pid: number, buses: RunBusctl[], withinMs: number): Promise<UnitJob> {
  const failures: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`systemd did not answer within ${withinMs} ms`)), withinMs);
  });
  const ask = async (): Promise<UnitJob> => {
    for (const run of buses) {
      try {
        return await askUnitJob(pid, run);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    throw new Error(failures.join('; '));
  };
  try {
    return await Promise.race([ask(), late]);
  } finally {
    clearTimeout(timer);
  }
}

export async function runStopHook(clear: boolean, deps: StopHookDeps): Promise<number> {
  const { logger } = deps;
  try {
    if (clear) {
      clearStopIntent(deps.env, deps.dir);
      return ExitCode.ok;
    }
    if (deps.uid !== 0) {
      logger.error('stop-intent: must run as root (ExecStop=-+…); a restart will drain');
      return ExitCode.config;
    }
    const { invocation, mainPid } = hookTarget(deps.env);
    if (mainPid === null) return ExitCode.ok; // exited already (idle): nobody to tell
    const buses = deps.buses ?? [busctl(QUESTION_MAX_MS, PRIVATE_BUS), busctl(QUESTION_MAX_MS)];
    const job = await askFirstThatAnswers(mainPid, buses, deps.answerMaxMs ?? ANSWER_MAX_MS);
    writeStopIntent({ invocation, mainPid, ...job }, deps.dir);
    logger.info(
      { job: job.jobType ?? 'none', fdStoreMax: job.fdStoreMax, mainPid },
      'stop-intent: told the service',
    );
    return ExitCode.ok;
  } catch (err) {
    const code = err instanceof StopIntentError ? ExitCode.config : ExitCode.unavailable;
    logger.error(
      { why: (err as Error).message },
      'stop-intent: no answer for the service; a restart will drain',
    );
    return code;
  }
}
