/** The signal map: SIGHUP runs the reload handler (one that came before it is held until then); the rest are logged only. */
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { routeSignals, SIGNAL_ACTIONS } from '../../src/lifecycle/signals.js';

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

describe('routeSignals', () => {
  it('listens for every mapped signal, and removes its listeners on release', () => {
    const target = new EventEmitter();
    const routed = routeSignals(target as unknown as NodeJS.Process, capture().logger);
    for (const signal of Object.keys(SIGNAL_ACTIONS)) expect(target.listenerCount(signal)).toBe(1);
    routed.release();
    for (const signal of Object.keys(SIGNAL_ACTIONS)) expect(target.listenerCount(signal)).toBe(0);
  });

  it('holds stops and reloads that come before serving, in order, and routes the rest', () => {
    const target = new EventEmitter();
    const { lines, logger } = capture();
    const routed = routeSignals(target as unknown as NodeJS.Process, logger);
    target.emit('SIGHUP', 'SIGHUP');
    target.emit('SIGHUP', 'SIGHUP'); // one held reload stands for both
    target.emit('SIGTERM', 'SIGTERM');
    target.emit('SIGUSR2', 'SIGUSR2');
    const heard: string[] = [];
    routed.setRoutes({ stop: (s) => heard.push(`stop ${s}`), reload: (s) => heard.push(`reload ${s}`) });
    expect(heard).toEqual(['reload SIGHUP', 'stop SIGTERM']);
    target.emit('SIGINT', 'SIGINT');
    target.emit('SIGHUP', 'SIGHUP');
    expect(heard.slice(2)).toEqual(['stop SIGINT', 'reload SIGHUP']);
    expect(lines.map((l) => [l.signal, l.msg])).toEqual([
      ['SIGHUP', 'reload requested before serving: carried out once serving'],
      ['SIGTERM', 'stop requested before serving: carried out once serving'],
      ['SIGUSR2', 'signal ignored: still serving'],
    ]);
    routed.release();
  });
});
