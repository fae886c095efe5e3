/** The signal map: SIGHUP runs the reload handler (one that came before it is held until then); the rest are logged only. */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { holdSignals, SIGNAL_ACTIONS } from '../../src/lifecycle/signals.js';

function capture() {
  const lines: Array<{ msg: string; signal?: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as { msg: string; signal?: string });
      done();
    },
  });
  return { lines, logger: pino({ level: 'info' }, stream) };
}

describe('holdSignals', () => {
  it('leaves stop signals to the run loop and listens for every other mapped signal', () => {
    const target = new EventEmitter();
    const held = holdSignals(target as unknown as NodeJS.Process, capture().logger);
    for (const [signal, action] of Object.entries(SIGNAL_ACTIONS)) {
      expect(target.listenerCount(signal)).toBe(action === 'stop' ? 0 : 1);
    }
    held.release();
    for (const signal of Object.keys(SIGNAL_ACTIONS)) expect(target.listenerCount(signal)).toBe(0);
  });

  it('runs the plugged-in reload on SIGHUP, and holds one that comes before it until then', async () => {
    const target = new EventEmitter();
    const { lines, logger } = capture();
    const held = holdSignals(target as unknown as NodeJS.Process, logger);
    target.emit('SIGHUP', 'SIGHUP');
    const reloads: string[] = [];
    held.setReload((signal) => reloads.push(signal));
    target.emit('SIGHUP', 'SIGHUP');
    target.emit('SIGUSR2', 'SIGUSR2');
    await new Promise((r) => setImmediate(r));
    expect(reloads).toEqual(['SIGHUP', 'SIGHUP']);
    expect(lines.map((l) => [l.signal, l.msg])).toEqual([
      ['SIGHUP', 'reload requested before serving: it runs once serving'],
      ['SIGUSR2', 'signal ignored: still serving'],
    ]);
    held.release();
  });

  it('lets a reload take a stop signal from the run loop, and replays one passed on by the previous program', async () => {
    const target = new EventEmitter();
    const env: NodeJS.ProcessEnv = { SOCKRELAY_STOP_AFTER_RELOAD: 'SIGTERM' };
    const held = holdSignals(target as unknown as NodeJS.Process, capture().logger, env);
    expect(env).toEqual({}); // read once: a later reload does not pass it on again
    const heard: string[] = [];
    const runLoop = (signal: NodeJS.Signals) => void heard.push(signal);
    held.stops.on('SIGTERM', runLoop);
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual(['SIGTERM']); // the replay
    let taking = true;
    const taken: string[] = [];
    held.setReload(
      Object.assign(() => undefined, { takeStop: (s: NodeJS.Signals) => (taken.push(s), taking) }),
    );
    target.emit('SIGTERM', 'SIGTERM');
    taking = false;
    target.emit('SIGTERM', 'SIGTERM');
    expect([taken, heard]).toEqual([
      ['SIGTERM', 'SIGTERM'],
      ['SIGTERM', 'SIGTERM'],
    ]);
    held.stops.off('SIGTERM', runLoop);
    expect(target.listenerCount('SIGTERM')).toBe(0);
    held.release();
  });

  it('counts the signals of the exec only once its own listener has them, and stops for one that came then', async () => {
    const target = new EventEmitter();
    const asked: Array<[string, number]> = [];
    const counts: Record<string, number> = { SIGHUP: 2, SIGTERM: 0, SIGINT: 1 };
    const duringExec = (signal: 'SIGHUP' | 'SIGTERM' | 'SIGINT') => {
      asked.push([signal, target.listenerCount(signal)]);
      const n = counts[signal]!;
      counts[signal] = 0;
      return n;
    };
    const { lines, logger } = capture();
    const held = holdSignals(target as unknown as NodeJS.Process, logger, {}, duringExec);
    const heard: string[] = [];
    const runLoop = (signal: NodeJS.Signals) => void heard.push(signal);
    held.stops.on('SIGTERM', runLoop);
    held.stops.on('SIGINT', runLoop);
    const reloads: string[] = [];
    held.setReload((signal) => reloads.push(signal));
    await new Promise((r) => setImmediate(r));
    // Each asked with its listener in place: nothing can fall between the count and the listener.
    expect(asked).toEqual([
      ['SIGHUP', 1],
      ['SIGTERM', 1],
      ['SIGINT', 1],
    ]);
    expect(reloads).toEqual(['SIGHUP']);
    expect(heard).toEqual(['SIGINT']); // one stop, replayed once
    expect(lines.map((l) => l.msg)).toContain('a stop arrived during the reload: stopping now');
    held.release();
  });
});
