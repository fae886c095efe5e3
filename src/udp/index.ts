/** UDP: sessions per client over an inherited datagram socket, relayed by the addon. */
export * from './types.js';
export { NativeUdpRelay } from './native-udp-relay.js';
