#include "dgram/loop-guard.h"

#include <netinet/in.h>

#include <cstring>

namespace sockrelay {

namespace {

bool IsInet(const SockAddr& a) { return a.family() == AF_INET || a.family() == AF_INET6; }

const struct sockaddr_in& In4(const SockAddr& a) { return *reinterpret_cast<const struct sockaddr_in*>(&a.ss); }
const struct sockaddr_in6& In6(const SockAddr& a) { return *reinterpret_cast<const struct sockaddr_in6*>(&a.ss); }

uint16_t Port(const SockAddr& a) { return a.family() == AF_INET ? In4(a).sin_port : In6(a).sin6_port; }

bool IsLoopback(const SockAddr& a) {
  if (a.family() == AF_INET) return (ntohl(In4(a).sin_addr.s_addr) >> 24) == 127;
  return a.family() == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&In6(a).sin6_addr);
}

bool IsWildcard(const SockAddr& a) {
  if (a.family() == AF_INET) return In4(a).sin_addr.s_addr == htonl(INADDR_ANY);
  return a.family() == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&In6(a).sin6_addr);
}

// Same port, and an address that reaches the same socket: equal, or both loopback (every 127/8 address
// and ::1 reach a socket bound to any of them through the wildcard), or `bound` is a wildcard and the
// other is loopback.
bool SameLocalEndpoint(const SockAddr& peer, const SockAddr& bound) {
  if (!IsInet(peer) || !IsInet(bound)) return SockAddrEqual()(peer, bound);
  if (Port(peer) != Port(bound)) return false;
  if (SockAddrEqual()(peer, bound)) return true;
  return IsLoopback(peer) && (IsLoopback(bound) || IsWildcard(bound));
}

}  // namespace

UdpLoopGuard::UdpLoopGuard(const std::vector<SockAddr>& backends) {
  for (const SockAddr& b : backends) backends_.push_back(CanonicalUdpAddr(b));
}

bool UdpLoopGuard::WouldLoop(const SockAddr& client, const SockAddr& destination,
                             const UdpSessionTable& sessions) const {
  SockAddr peer = CanonicalUdpAddr(client);
  if (SameLocalEndpoint(peer, CanonicalUdpAddr(destination))) return true;
  for (const SockAddr& backend : backends_) {
    if (SameLocalEndpoint(peer, backend)) return true;
  }
  return sessions.IsUpstream(peer);
}

}  // namespace sockrelay
