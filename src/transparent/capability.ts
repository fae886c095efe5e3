/**
 * Transparent mode needs CAP_NET_ADMIN or CAP_NET_RAW (either lets a socket set IP_TRANSPARENT).
 * Without one, every backend connection would fail; so it is asked once at start, by setting the
 * option on a throwaway socket (the only test that also sees user namespaces and LSMs), and its
 * absence stops sockrelay with one line naming the capability.
 */
import { ConfigError, errnoCode } from '../errors.js';
import type { NativeBinding } from '../native/binding.js';
import type { RoutedSocket } from '../routing.js';

export function checkTransparentAllowed(
  routed: readonly RoutedSocket[],
  binding: Pick<NativeBinding, 'checkTransparent'>,
): void {
  if (!routed.some((r) => r.transparent)) return;
  try {
    binding.checkTransparent();
  } catch (err) {
    throw new ConfigError(
      'ERR_TRANSPARENT_CAPABILITY',
      `transparent mode needs the capability CAP_NET_ADMIN (or CAP_NET_RAW) to set IP_TRANSPARENT (${errnoCode(err)}); grant it with AmbientCapabilities=CAP_NET_ADMIN in the service`,
      { cause: err },
    );
  }
}
