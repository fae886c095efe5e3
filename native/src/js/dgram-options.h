// UdpRelay's options object, checked and turned into the core's configuration.
#pragma once
#include <napi.h>

#include "dgram/relay.h"

namespace sockrelay {
// { fd, backend: SocketAddress[], sessionTimeoutMs, sessionsMax, proxyProtocol? } → config; false and
// *error on bad input.
// Throws (js/args.h) and returns false on a bad option.
bool ReadUdpRelayConfig(Napi::Value value, UdpRelayConfig* config);
}  // namespace sockrelay
