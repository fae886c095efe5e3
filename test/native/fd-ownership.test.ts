/**
 * The addon's one ownership rule, entry point by entry point: every fd given to it is its own from
 * that call on, taken or refused. A refused fd is closed by the addon at once (so the caller, who
 * must not close it again, leaks nothing); a taken one is closed when the relay is done with it.
 * Counting /proc/self/fd shows no leak; giving the freed number to a new socket before the relay is
 * destroyed shows no double close (the relay would close the newcomer).
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

import { useCleanups } from '../helpers/cleanups.js';

import { loadNative, type NativeBinding, type SocketAddress } from '../../src/native/binding.js';

const native = loadNative().binding as NativeBinding;
const loopback: SocketAddress = { family: 'inet', address: '127.0.0.1', port: 0 };
const backend: SocketAddress = { family: 'inet', address: '127.0.0.1', port: 9 };

const cleanups = useCleanups();

const openFds = (): number => readdirSync('/proc/self/fd').length;
const isOpen = (fd: number): boolean => {
  try {
    native.fdinfo(fd);
    return true;
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('EBADF');
    return false;
  }
};
const datagramSocket = (): number => native.listenSocket(loopback, { type: 'dgram' });

/** A socket that takes the lowest free number, which is `fd` when `fd` was just closed. */
function reuse(fd: number): number {
  const again = datagramSocket();
  expect(again).toBe(fd);
  cleanups.push(() => native.close(again));
  return again;
}

const engineOptions = (listeners: Array<{ fd: number | null; backend: number }>) => ({
  listeners,
  backends: [[backend]],
  connectionsMax: 8,
  pipeSize: 0,
  connectTimeoutMs: 0,
  connectionEvents: false,
});

/** An engine with no listening socket (it never accepts): only the fds adopted count. */
function streamEngine() {
  const engine = new native.RelayEngine(engineOptions([{ fd: null, backend: 0 }]), () => undefined);
  cleanups.push(() => engine.destroy());
  return engine;
}

function udpRelay(fd: number) {
  return new native.UdpRelay(
    { fd, backend: [backend], sessionTimeoutMs: 0, sessionsMax: 8 },
    () => undefined,
  );
}

describe('fd ownership at the addon boundary', () => {
  it('RelayEngine listeners: refused options close them, destroy() closes taken ones, one given twice is taken once', () => {
    const before = openFds();
    const stream = (): number => native.listenSocket(loopback, { type: 'stream' });
    // Refused after the fds were read (backend 7 does not exist): both are closed all the same.
    const [a, b] = [stream(), stream()];
    expect(
      () =>
        new native.RelayEngine(
          engineOptions([
            { fd: a, backend: 0 },
            { fd: b, backend: 7 },
          ]),
          () => undefined,
        ),
    ).toThrow(TypeError);
    expect([isOpen(a), isOpen(b), openFds()]).toEqual([false, false, before]);
    // The same fd twice: refused, and closed once (the number's next owner is untouched).
    const twice = stream();
    expect(
      () =>
        new native.RelayEngine(
          engineOptions([
            { fd: twice, backend: 0 },
            { fd: twice, backend: 0 },
          ]),
          () => undefined,
        ),
    ).toThrow(/another listener/);
    const newcomer = reuse(twice);
    expect(openFds()).toBe(before + 1);

    const taken = stream();
    const engine = new native.RelayEngine(
      engineOptions([
        { fd: taken, backend: 0 },
        { fd: null, backend: 0 },
      ]),
      () => undefined,
    );
    engine.start();
    expect(isOpen(taken)).toBe(true);
    engine.destroy();
    expect([isOpen(taken), isOpen(newcomer), openFds()]).toEqual([false, true, before + 1]);
  });

  it('adoptConnection: refused fds are closed once, taken ones when the engine is destroyed', () => {
    const engine = streamEngine();
    const before = openFds();
    const [a, b] = [datagramSocket(), datagramSocket()];
    expect(() => engine.adoptConnection(5, a, b, 0n, 0n)).toThrow(TypeError);
    expect([isOpen(a), isOpen(b), openFds()]).toEqual([false, false, before]);

    const [c, d] = [datagramSocket(), datagramSocket()];
    engine.adoptConnection(0, c, d, 0n, 0n);
    expect(openFds()).toBe(before + 2);
    engine.destroy();
    expect([isOpen(c), isOpen(d), openFds()]).toEqual([false, false, before]);

    const started = streamEngine();
    started.stopAccepting();
    started.start();
    const base = openFds();
    const [e, f] = [datagramSocket(), datagramSocket()];
    expect(() => started.adoptConnection(0, e, f, 0n, 0n)).toThrow(
      expect.objectContaining({ code: 'EALREADY' }),
    );
    expect(openFds()).toBe(base);
    const newcomer = reuse(e);
    started.destroy();
    expect(isOpen(newcomer)).toBe(true);
  });

  it('adoptClient: a refused fd is closed once, a taken one when the engine is destroyed', () => {
    const engine = streamEngine();
    const before = openFds();
    const refused = datagramSocket();
    expect(() => engine.adoptClient(3, refused)).toThrow(TypeError);
    expect(openFds()).toBe(before);
    const newcomer = reuse(refused);

    const taken = datagramSocket();
    engine.adoptClient(0, taken);
    engine.destroy();
    expect(isOpen(taken)).toBe(false);
    expect(isOpen(newcomer)).toBe(true);
    expect(openFds()).toBe(before + 1);
  });

  it('UdpRelay: a refused socket is closed by the constructor, a taken one by destroy()', () => {
    const before = openFds();
    const refused = datagramSocket();
    expect(
      () =>
        new native.UdpRelay(
          { fd: refused, backend: [], sessionTimeoutMs: 0, sessionsMax: 8 },
          () => undefined,
        ),
    ).toThrow(TypeError);
    expect(openFds()).toBe(before);
    const stream = native.listenSocket(loopback, { type: 'stream' });
    expect(() => udpRelay(stream)).toThrow(/datagram/);
    expect(openFds()).toBe(before);

    const taken = datagramSocket();
    const relay = udpRelay(taken);
    relay.start();
    relay.destroy();
    relay.destroy();
    expect(isOpen(taken)).toBe(false);
    expect(openFds()).toBe(before);
  });

  it('adoptSessions: refused entries are closed once, taken ones when the relay is destroyed', () => {
    const relay = udpRelay(datagramSocket());
    cleanups.push(() => relay.destroy());
    const before = openFds();
    // Unconnected: refused with ENOTCONN from getpeername.
    const unconnected = datagramSocket();
    const refused = relay.adoptSessions([{ upstreamFd: unconnected, client: '127.0.0.1:1', local: '' }]);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.error).toMatchObject({ code: 'ENOTCONN' });
    expect(openFds()).toBe(before);
    const newcomer = reuse(unconnected);
    relay.destroy();
    expect(isOpen(newcomer)).toBe(true);
  });

  it('an fd must be a whole number: 3.7 is refused, not taken as fd 3', () => {
    const fd = datagramSocket();
    cleanups.push(() => native.close(fd));
    expect(() => native.fdinfo(fd + 0.5)).toThrow(
      expect.objectContaining({ name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }),
    );
    expect(() => native.close(-1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => native.dup('3' as unknown as number)).toThrow(
      expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }),
    );
    const engine = streamEngine();
    expect(() => engine.adoptClient(0, fd + 0.7)).toThrow(RangeError);
    expect(isOpen(fd)).toBe(true);
    expect(() => udpRelay(fd + 0.7)).toThrow(RangeError);
    expect(isOpen(fd)).toBe(true);
  });

  it('after destroy(), both relays keep their counters and refuse new work with ERR_RELAY_DESTROYED', () => {
    const engine = streamEngine();
    engine.destroy();
    expect(engine.stats().listeners).toHaveLength(1);
    expect([engine.active(), engine.tryStop()]).toEqual([0, true]);
    expect(() => engine.start()).toThrow(expect.objectContaining({ code: 'ERR_RELAY_DESTROYED' }));
    const relay = udpRelay(datagramSocket());
    relay.destroy();
    expect(relay.stats()).toMatchObject({ sessionsActive: 0, sessionsTotal: 0 });
    expect([relay.activeSessions(), relay.tryStop()]).toEqual([0, true]);
    expect(() => relay.start()).toThrow(expect.objectContaining({ code: 'ERR_RELAY_DESTROYED' }));
    expect(() => relay.adoptSessions([])).toThrow(expect.objectContaining({ code: 'ERR_RELAY_DESTROYED' }));
  });
});
