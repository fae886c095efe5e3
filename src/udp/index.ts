/**
 * UDP relays: sessions per client over an inherited datagram socket. The native
 * relay is chosen whenever the addon provides it; `dgram` is the fallback.
 */
import type { NativeBinding } from '../native/binding.js';
import { DgramUdpRelay } from './dgram-udp-relay.js';
import { NativeUdpRelay } from './native-udp-relay.js';
import type { UdpRelay, UdpRelayOptions } from './types.js';

export * from './types.js';
export { DgramUdpRelay } from './dgram-udp-relay.js';
export { NativeUdpRelay } from './native-udp-relay.js';

/** `native` is `loadNative().binding`: null (or an addon built without UdpRelay) selects `dgram`. */
export function createUdpRelay(native: NativeBinding | null, options: UdpRelayOptions): UdpRelay {
  // A stale build of the addon may predate UdpRelay; the declaration cannot promise it is there.
  if (native && typeof (native as Partial<NativeBinding>).UdpRelay === 'function') {
    return new NativeUdpRelay(native, options);
  }
  // A stale addon still dups fds, which the dgram relay needs to hand sessions over.
  return new DgramUdpRelay(options, undefined, native);
}
