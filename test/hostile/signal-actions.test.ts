/** The signal map: SIGHUP runs the reload handler once one is plugged in; the rest are logged only. */
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

  it('runs the plugged-in reload on SIGHUP, and logs it as unavailable without one', async () => {
    const target = new EventEmitter();
    const { lines, logger } = capture();
    const held = holdSignals(target as unknown as NodeJS.Process, logger);
    target.emit('SIGHUP', 'SIGHUP');
    const reloads: string[] = [];
    held.setReload((signal) => reloads.push(signal));
    target.emit('SIGHUP', 'SIGHUP');
    target.emit('SIGUSR2', 'SIGUSR2');
    await new Promise((r) => setImmediate(r));
    expect(reloads).toEqual(['SIGHUP']);
    expect(lines.map((l) => [l.signal, l.msg])).toEqual([
      ['SIGHUP', 'reload is not available yet: still serving as before'],
      ['SIGUSR2', 'signal ignored: still serving'],
    ]);
    held.release();
  });
});
