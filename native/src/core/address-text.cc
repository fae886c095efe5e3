// ParseAddressText: handover text back into the bytes the kernel reports.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>

#include "core/address.h"

namespace sockrelay {
namespace {

bool Fail(std::string* error, const std::string& message) {
  *error = message;
  return false;
}

// 1-65535, digits only; -1 otherwise.
int ParsePort(const std::string& digits) {
  if (digits.empty() || digits.size() > 5) return -1;
  int value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value >= 1 && value <= 65535 ? value : -1;
}

bool ParseInet(const std::string& text, SockAddr* out, std::string* error) {
  size_t colon = text.rfind(':');
  int port = colon == std::string::npos ? -1 : ParsePort(text.substr(colon + 1));
  std::string ignored;
  if (port < 0 || !InetAddress(false, text.substr(0, colon), port, out, &ignored))
    return Fail(error, "not an IPv4 address and port (1.2.3.4:5): " + text);
  return true;
}

bool ParseInet6(const std::string& text, SockAddr* out, std::string* error) {
  size_t close = text.rfind("]:");
  int port = close == std::string::npos ? -1 : ParsePort(text.substr(close + 2));
  if (text.empty() || text[0] != '[' || port < 0) return Fail(error, "not an IPv6 address and port ([::1]:5): " + text);
  std::string host = text.substr(1, close - 1);
  std::string why;
  if (!InetAddress(true, host, port, out, &why)) {
    bool zone = why.rfind("unknown IPv6 zone", 0) == 0;
    return Fail(error, zone ? "unknown IPv6 scope: " + text : "not an IPv6 address and port ([::1]:5): " + text);
  }
  return true;
}

bool ParseUnix(const std::string& text, SockAddr* out, std::string* error) {
  bool abstract = !text.empty() && text[0] == '@';
  std::string ignored;
  if (!UnixAddress(abstract ? text.substr(1) : text, abstract, out, &ignored))
    return Fail(error, "not a unix socket address (/path or @name): " + text);
  return true;
}

}  // namespace

bool ParseAddressText(const std::string& text, int family, SockAddr* out, std::string* error) {
  *out = SockAddr{};
  switch (family) {
    case AF_INET: return ParseInet(text, out, error);
    case AF_INET6: return ParseInet6(text, out, error);
    case AF_UNIX: return ParseUnix(text, out, error);
    default: return Fail(error, "unsupported address family");
  }
}

}  // namespace sockrelay
