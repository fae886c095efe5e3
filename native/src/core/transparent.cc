#include "core/transparent.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/unique-fd.h"

namespace sockrelay {
namespace {

const struct sockaddr_in& In4(const SockAddr& a) { return *reinterpret_cast<const struct sockaddr_in*>(&a.ss); }
const struct sockaddr_in6& In6(const SockAddr& a) { return *reinterpret_cast<const struct sockaddr_in6*>(&a.ss); }

bool IsMapped(const SockAddr& a) { return a.family() == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&In6(a).sin6_addr); }

void SetV4(const unsigned char* addr, uint16_t port, SockAddr* out) {
  *out = SockAddr();
  auto* in4 = reinterpret_cast<struct sockaddr_in*>(&out->ss);
  in4->sin_family = AF_INET;
  in4->sin_port = port;
  memcpy(&in4->sin_addr, addr, 4);
  out->len = sizeof *in4;
}

void SetMapped(const unsigned char* addr, uint16_t port, SockAddr* out) {
  *out = SockAddr();
  auto* in6 = reinterpret_cast<struct sockaddr_in6*>(&out->ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = port;
  in6->sin6_addr.s6_addr[10] = 0xff;
  in6->sin6_addr.s6_addr[11] = 0xff;
  memcpy(&in6->sin6_addr.s6_addr[12], addr, 4);
  out->len = sizeof *in6;
}

}  // namespace

bool TransparentSource(const SockAddr& client, const SockAddr& backend, SockAddr* source) {
  const unsigned char* v4 = nullptr;
  uint16_t port = 0;
  if (client.family() == AF_INET && client.len >= sizeof(struct sockaddr_in)) {
    v4 = reinterpret_cast<const unsigned char*>(&In4(client).sin_addr);
    port = In4(client).sin_port;
  } else if (IsMapped(client) && client.len >= sizeof(struct sockaddr_in6)) {
    v4 = &In6(client).sin6_addr.s6_addr[12];
    port = In6(client).sin6_port;
  }
  if (v4 != nullptr) {
    if (backend.family() == AF_INET) return SetV4(v4, port, source), true;
    if (IsMapped(backend)) return SetMapped(v4, port, source), true;
    return false;
  }
  if (client.family() != AF_INET6 || client.len < sizeof(struct sockaddr_in6)) return false;
  if (backend.family() != AF_INET6 || IsMapped(backend)) return false;
  *source = SockAddr();
  auto* in6 = reinterpret_cast<struct sockaddr_in6*>(&source->ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = In6(client).sin6_port;
  in6->sin6_addr = In6(client).sin6_addr;
  // A link-local client is only an address together with its interface.
  in6->sin6_scope_id = In6(client).sin6_scope_id;
  source->len = sizeof *in6;
  return true;
}

int BindTransparent(int fd, const SockAddr& source, bool shared, const char** syscall) {
  int on = 1;
  *syscall = "setsockopt";
  // IPV6_TRANSPARENT and IP_TRANSPARENT set the same mark; a v6 socket takes only the former.
  int level = source.family() == AF_INET6 ? SOL_IPV6 : SOL_IP;
  int name = source.family() == AF_INET6 ? IPV6_TRANSPARENT : IP_TRANSPARENT;
  if (setsockopt(fd, level, name, &on, sizeof on) < 0) return errno;
  if (shared && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) return errno;
  *syscall = "bind";
  if (bind(fd, source.get(), source.len) < 0) return errno;
  return 0;
}

int TransparentAllowed() {
  bool v6 = false;
  UniqueFd probe(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  // A host without IPv4 still has IPv6 to ask.
  if (!probe && errno == EAFNOSUPPORT) probe.reset(socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)), v6 = true;
  if (!probe) return errno;
  int on = 1;
  int rc = v6 ? setsockopt(probe.get(), SOL_IPV6, IPV6_TRANSPARENT, &on, sizeof on)
              : setsockopt(probe.get(), SOL_IP, IP_TRANSPARENT, &on, sizeof on);
  return rc < 0 ? errno : 0;
}

}  // namespace sockrelay
