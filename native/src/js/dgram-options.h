// UdpRelay's options object, checked and turned into the core's configuration.
#pragma once
#include <napi.h>

#include <string>

#include "dgram/relay.h"

namespace sockrelay {
// { fd, backend: SocketAddress[], sessionTimeoutMs, sessionsMax, proxyProtocol? } → config; false and
// *error on bad input.
bool ParseUdpRelayOptions(const Napi::Object& options, UdpRelayConfig* config, std::string* error);
}  // namespace sockrelay
