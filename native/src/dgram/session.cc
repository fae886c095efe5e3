#include "dgram/session.h"

#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/transparent.h"

namespace sockrelay {

void NormalizeUdpAddr(SockAddr* addr) {
  if (addr->ss.ss_family == AF_INET6 && addr->len >= sizeof(struct sockaddr_in6)) {
    reinterpret_cast<struct sockaddr_in6*>(&addr->ss)->sin6_flowinfo = 0;
  }
}

SockAddr CanonicalUdpAddr(const SockAddr& addr) {
  SockAddr out;
  if (addr.family() == AF_INET6 && addr.len >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6& in6 = *reinterpret_cast<const struct sockaddr_in6*>(&addr.ss);
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
      auto* in4 = reinterpret_cast<struct sockaddr_in*>(&out.ss);
      in4->sin_family = AF_INET;
      in4->sin_port = in6.sin6_port;
      memcpy(&in4->sin_addr, &in6.sin6_addr.s6_addr[12], 4);
      out.len = sizeof *in4;
      return out;
    }
    auto* o6 = reinterpret_cast<struct sockaddr_in6*>(&out.ss);
    o6->sin6_family = AF_INET6;
    o6->sin6_port = in6.sin6_port;
    o6->sin6_addr = in6.sin6_addr;
    o6->sin6_scope_id = in6.sin6_scope_id;
    out.len = sizeof *o6;
    return out;
  }
  if (addr.family() == AF_INET && addr.len >= sizeof(struct sockaddr_in)) {
    auto* in4 = reinterpret_cast<struct sockaddr_in*>(&out.ss);
    in4->sin_family = AF_INET;
    in4->sin_port = reinterpret_cast<const struct sockaddr_in*>(&addr.ss)->sin_port;
    in4->sin_addr = reinterpret_cast<const struct sockaddr_in*>(&addr.ss)->sin_addr;
    out.len = sizeof *in4;
    return out;
  }
  return addr;
}

size_t SockAddrHash::operator()(const SockAddr& a) const {
  // FNV-1a over the 16–28 bytes of an inet address (more for unix paths): cheap and spreads ports.
  const auto* p = reinterpret_cast<const unsigned char*>(&a.ss);
  uint64_t h = 1469598103934665603ull;
  for (socklen_t i = 0; i < a.len; i++) h = (h ^ p[i]) * 1099511628211ull;
  return static_cast<size_t>(h);
}

bool SockAddrEqual::operator()(const SockAddr& a, const SockAddr& b) const {
  return a.len == b.len && memcmp(&a.ss, &b.ss, a.len) == 0;
}

size_t UdpPayloadMax(int family) {
  switch (family) {
    case AF_INET: return 65535 - 20 - 8;
    case AF_INET6: return 65535 - 8;
    default: return 0;
  }
}

UniqueFd OpenUdpUpstream(const std::vector<SockAddr>& backends, const SockAddr* transparentClient, int* family,
                         int* err, const char** syscall) {
  // Stays so only when every address was skipped: none of the client's family.
  *err = transparentClient ? EAFNOSUPPORT : EDESTADDRREQ;
  *syscall = transparentClient ? "bind" : "connect";
  for (const SockAddr& backend : backends) {
    SockAddr source;
    if (transparentClient && !TransparentSource(*transparentClient, backend, &source)) continue;
    UniqueFd fd(socket(backend.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      *err = errno;
      *syscall = "socket";
      // Out of fds or memory: the next address will not fare better.
      return fd;
    }
    if (transparentClient) {
      // No SO_REUSEADDR: two sessions sharing a client address could not tell their replies apart.
      // The client's address is the same towards every backend address: a refusal holds for all.
      if ((*err = BindTransparent(fd.get(), source, false, syscall))) return UniqueFd();
    } else if (backend.ss.ss_family == AF_UNIX) {
      struct sockaddr_un autobind {};
      autobind.sun_family = AF_UNIX;
      if (bind(fd.get(), reinterpret_cast<struct sockaddr*>(&autobind), sizeof(sa_family_t)) < 0) {
        *err = errno;
        *syscall = "bind";
        return UniqueFd();
      }
    }
    if (connect(fd.get(), backend.get(), backend.len) == 0) {
      *family = backend.family();
      return fd;
    }
    *err = errno;
    *syscall = "connect";
  }
  return UniqueFd();
}

}  // namespace sockrelay
