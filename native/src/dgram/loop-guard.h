// Refusing sessions that would make the relay talk to itself (the CVE-2024-2169 class of UDP loops).
//
// A datagram whose source is forged as the backend's address, as one of the relay's own upstream
// sockets, or as the inherited socket itself opens a session whose replies come straight back as new
// client datagrams: proxy and backend then ping-pong forever, each forged datagram adding a loop. A
// backend that is the proxy itself loops the same way, through the upstream sockets' addresses. The
// check runs once per new client address, never per datagram.
#pragma once
#include <vector>

#include "core/address.h"
#include "dgram/session-table.h"

namespace sockrelay {

class UdpLoopGuard {
 public:
  explicit UdpLoopGuard(const std::vector<SockAddr>& backends);
  // True when a session for `client`, whose datagram was sent to `destination` (the inherited socket's
  // address), would feed the relay its own traffic: it claims that socket, a backend, or one of the
  // upstream sockets of `sessions`.
  bool WouldLoop(const SockAddr& client, const SockAddr& destination, const UdpSessionTable& sessions) const;

 private:
  std::vector<SockAddr> backends_;  // canonical
};

}  // namespace sockrelay
