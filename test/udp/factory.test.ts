import { describe, expect, it } from 'vitest';

import { createUdpRelay, DgramUdpRelay, NativeUdpRelay } from '../../src/udp/index.js';
import { inheritedSocket, native, relayOptions } from './helpers.js';

const inetBackend = [{ family: 'inet' as const, address: '127.0.0.1', port: 9 }];

describe.skipIf(!native)('createUdpRelay', () => {
  it('picks the native relay when the addon has one, dgram otherwise', () => {
    const a = inheritedSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const nativeRelay = createUdpRelay(native, relayOptions(a.fd, 'inet', inetBackend));
    nativeRelay.destroy();
    expect(nativeRelay).toBeInstanceOf(NativeUdpRelay);
    expect(nativeRelay.name).toBe('native-udp');

    const b = inheritedSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    const fallback = createUdpRelay(null, relayOptions(b.fd, 'inet', inetBackend));
    fallback.destroy();
    expect(fallback).toBeInstanceOf(DgramUdpRelay);
    expect(fallback.name).toBe('dgram');
    expect(fallback.stats().sessionsActive).toBe(0);
  });

  it('refuses unix datagram sockets without the addon, with a stable code', () => {
    const { fd } = inheritedSocket({ family: 'inet', address: '127.0.0.1', port: 0 });
    try {
      const unixBackend = [{ family: 'unix' as const, path: '/run/x.sock', abstract: false }];
      expect(() => createUdpRelay(null, relayOptions(fd, 'inet', unixBackend))).toThrow(
        expect.objectContaining({ code: 'ERR_UDP_UNIX_NEEDS_NATIVE' }),
      );
      expect(() => createUdpRelay(null, relayOptions(fd, 'unix', inetBackend))).toThrow(
        expect.objectContaining({ code: 'ERR_UDP_UNIX_NEEDS_NATIVE' }),
      );
    } finally {
      native!.close(fd);
    }
  });
});
