#include "core/address.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace sockrelay {
namespace {

bool Fail(std::string* error, const std::string& message) {
  *error = message;
  return false;
}

// A zone by interface name or index; 0 when it is neither.
uint32_t ScopeId(const std::string& zone) {
  uint32_t index = if_nametoindex(zone.c_str());
  if (index != 0) return index;
  char* end = nullptr;
  unsigned long n = strtoul(zone.c_str(), &end, 10);
  return zone.empty() || *end != '\0' || n > UINT32_MAX ? 0 : static_cast<uint32_t>(n);
}

}  // namespace

bool InetAddress(bool v6, const std::string& host, int port, SockAddr* out, std::string* error) {
  *out = SockAddr{};
  if (port < 0 || port > 65535) return Fail(error, "port must be an integer from 0 to 65535");
  if (!v6) {
    auto* in = reinterpret_cast<struct sockaddr_in*>(&out->ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) != 1) return Fail(error, "not an IPv4 address: " + host);
    out->len = sizeof *in;
    return true;
  }
  auto* in6 = reinterpret_cast<struct sockaddr_in6*>(&out->ss);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(static_cast<uint16_t>(port));
  std::string address = host;
  size_t percent = address.find('%');
  if (percent != std::string::npos) {
    in6->sin6_scope_id = ScopeId(address.substr(percent + 1));
    if (in6->sin6_scope_id == 0) return Fail(error, "unknown IPv6 zone: " + host);
    address.resize(percent);
  }
  if (inet_pton(AF_INET6, address.c_str(), &in6->sin6_addr) != 1) return Fail(error, "not an IPv6 address: " + host);
  out->len = sizeof *in6;
  return true;
}

bool UnixAddress(const std::string& path, bool abstract, SockAddr* out, std::string* error) {
  *out = SockAddr{};
  auto* un = reinterpret_cast<struct sockaddr_un*>(&out->ss);
  // Both forms need one spare byte: the leading NUL of an abstract name, the trailing NUL of a path.
  if (path.empty() || path.size() + 1 > sizeof un->sun_path || (!abstract && path.find('\0') != std::string::npos))
    return Fail(error, "unix socket path must be 1 to 107 bytes without NUL");
  un->sun_family = AF_UNIX;
  memcpy(un->sun_path + (abstract ? 1 : 0), path.data(), path.size());
  out->len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

std::string FormatAddress(const struct sockaddr_storage& addr, socklen_t len, bool withScope) {
  char host[INET6_ADDRSTRLEN];
  switch (addr.ss_family) {
    case AF_INET: {
      const auto* in = reinterpret_cast<const struct sockaddr_in*>(&addr);
      inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
      return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
    }
    case AF_INET6: {
      const auto* in6 = reinterpret_cast<const struct sockaddr_in6*>(&addr);
      inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
      // The index, as the kernel keeps it: a name would need a lookup that can fail on the way back.
      std::string zone = withScope && in6->sin6_scope_id ? "%" + std::to_string(in6->sin6_scope_id) : "";
      return "[" + std::string(host) + zone + "]:" + std::to_string(ntohs(in6->sin6_port));
    }
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const struct sockaddr_un*>(&addr);
      size_t pathLen = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
      if (pathLen == 0) return "";
      if (un->sun_path[0] == '\0') return "@" + std::string(un->sun_path + 1, pathLen - 1);
      return std::string(un->sun_path, strnlen(un->sun_path, pathLen));
    }
    default:
      return "";
  }
}

}  // namespace sockrelay
