import { describe, expect, it } from 'vitest';
import { IdleMonitor, type Clock } from '../../src/lifecycle/idle-monitor.js';

/** A clock the test advances by hand. */
function manualClock() {
  let now = 0;
  let timers: Array<{ at: number; fn: () => void; id: number }> = [];
  let nextId = 1;
  const clock: Clock = {
    setTimeout: (fn, ms) => {
      const id = nextId++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (id) => {
      timers = timers.filter((t) => t.id !== id);
    },
  };
  const advance = (ms: number): void => {
    const target = now + ms;
    for (;;) {
      const due = timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      timers = timers.filter((t) => t !== due);
      now = due.at;
      due.fn();
    }
    now = target;
  };
  return { clock, advance, pending: () => timers.length };
}

describe('IdleMonitor', () => {
  it('fires after the idle time from start, even if nothing ever connects', () => {
    const { clock, advance } = manualClock();
    let fired = 0;
    const monitor = new IdleMonitor(1000, () => fired++, clock);
    monitor.start();
    advance(999);
    expect(fired).toBe(0);
    advance(1);
    expect(fired).toBe(1);
  });

  it('does not fire while any source is busy, and restarts the full span when all are idle', () => {
    const { clock, advance } = manualClock();
    let fired = 0;
    const monitor = new IdleMonitor(1000, () => fired++, clock);
    monitor.start();
    advance(500);
    monitor.setBusy('tcp', true);
    monitor.setBusy('udp', true);
    advance(5000);
    monitor.setBusy('tcp', false);
    advance(5000);
    expect(fired).toBe(0);
    monitor.setBusy('udp', false);
    advance(999);
    expect(fired).toBe(0);
    advance(1);
    expect(fired).toBe(1);
  });

  it('never arms for infinity, and stop() disarms', () => {
    const { clock, advance, pending } = manualClock();
    const never = new IdleMonitor(Infinity, () => expect.fail('fired'), clock);
    never.start();
    expect(pending()).toBe(0);
    const stopped = new IdleMonitor(10, () => expect.fail('fired'), clock);
    stopped.start();
    stopped.stop();
    advance(100);
  });

  it('re-arms in steps for spans beyond the 32-bit timer limit', () => {
    const { clock, advance } = manualClock();
    let fired = 0;
    const month = 31 * 86_400_000;
    new IdleMonitor(month, () => fired++, clock).start();
    advance(month - 1);
    expect(fired).toBe(0);
    advance(1);
    expect(fired).toBe(1);
  });
});
