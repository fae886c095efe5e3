#include "udp-addr-text.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>

#include "sockaddr.h"

namespace sockrelay {

namespace {

bool Fail(std::string* error, const std::string& message) {
  *error = message;
  return false;
}

bool ParsePort(const std::string& digits, uint16_t* port) {
  if (digits.empty() || digits.size() > 5) return false;
  unsigned value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return false;
  *port = htons(static_cast<uint16_t>(value));
  return true;
}

bool ParseInet(const std::string& text, UdpAddr* out, std::string* error) {
  size_t colon = text.rfind(':');
  auto* in = reinterpret_cast<struct sockaddr_in*>(&out->ss);
  in->sin_family = AF_INET;
  if (colon == std::string::npos || !ParsePort(text.substr(colon + 1), &in->sin_port) ||
      inet_pton(AF_INET, text.substr(0, colon).c_str(), &in->sin_addr) != 1) {
    return Fail(error, "not an IPv4 address and port (1.2.3.4:5): " + text);
  }
  out->len = sizeof *in;
  return true;
}

bool ParseInet6(const std::string& text, UdpAddr* out, std::string* error) {
  size_t close = text.rfind("]:");
  auto* in6 = reinterpret_cast<struct sockaddr_in6*>(&out->ss);
  in6->sin6_family = AF_INET6;
  if (text.empty() || text[0] != '[' || close == std::string::npos ||
      !ParsePort(text.substr(close + 2), &in6->sin6_port)) {
    return Fail(error, "not an IPv6 address and port ([::1]:5): " + text);
  }
  std::string host = text.substr(1, close - 1);
  size_t percent = host.find('%');
  if (percent != std::string::npos) {
    std::string scope = host.substr(percent + 1);
    host.resize(percent);
    in6->sin6_scope_id = if_nametoindex(scope.c_str());
    if (in6->sin6_scope_id == 0) {
      char* end = nullptr;
      unsigned long index = strtoul(scope.c_str(), &end, 10);
      if (scope.empty() || *end != '\0' || index == 0 || index > UINT32_MAX) {
        return Fail(error, "unknown IPv6 scope: " + text);
      }
      in6->sin6_scope_id = static_cast<uint32_t>(index);
    }
  }
  if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) {
    return Fail(error, "not an IPv6 address and port ([::1]:5): " + text);
  }
  out->len = sizeof *in6;
  return true;
}

bool ParseUnix(const std::string& text, UdpAddr* out, std::string* error) {
  auto* un = reinterpret_cast<struct sockaddr_un*>(&out->ss);
  un->sun_family = AF_UNIX;
  bool abstract = !text.empty() && text[0] == '@';
  // An abstract name is its bytes after the '@', with no terminator; a path carries its trailing NUL,
  // as the kernel reports a bound path. Either way the '@' or the NUL takes the spare byte.
  if (text.size() <= (abstract ? 1u : 0u) || text.size() + 1 > sizeof un->sun_path) {
    return Fail(error, "not a unix socket address (/path or @name): " + text);
  }
  if (abstract) {
    memcpy(un->sun_path + 1, text.data() + 1, text.size() - 1);
    out->len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + text.size());
  } else {
    if (memchr(text.data(), '\0', text.size()) != nullptr) return Fail(error, "NUL in unix socket path");
    memcpy(un->sun_path, text.data(), text.size());
    out->len = static_cast<socklen_t>(offsetof(struct sockaddr_un, sun_path) + text.size() + 1);
  }
  return true;
}

}  // namespace

std::string FormatUdpAddrText(const UdpAddr& addr) {
  std::string text = FormatSockaddr(addr.ss, addr.len);
  if (addr.ss.ss_family != AF_INET6) return text;
  uint32_t scope = reinterpret_cast<const struct sockaddr_in6*>(&addr.ss)->sin6_scope_id;
  if (scope == 0) return text;
  // The index, as the kernel keeps it: a name would need a lookup that can fail on the way back.
  size_t close = text.rfind("]:");
  return text.substr(0, close) + "%" + std::to_string(scope) + text.substr(close);
}

bool ParseUdpAddrText(const std::string& text, int family, UdpAddr* out, std::string* error) {
  *out = UdpAddr{};
  switch (family) {
    case AF_INET: return ParseInet(text, out, error);
    case AF_INET6: return ParseInet6(text, out, error);
    case AF_UNIX: return ParseUnix(text, out, error);
    default: return Fail(error, "unsupported address family");
  }
}

}  // namespace sockrelay
