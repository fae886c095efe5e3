// The address codec: socket addresses from their parts (what a JavaScript SocketAddress carries),
// to text (1.2.3.4:80, [::1]:80, /path, @abstract) and back. The only place that builds a sockaddr.
#pragma once
#include <sys/socket.h>

#include <string>

namespace sockrelay {

// Compared byte-wise over `len` where it is a key (dgram/session.h), so callers normalise it first.
struct SockAddr {
  struct sockaddr_storage ss = {};
  socklen_t len = 0;
  int family() const { return ss.ss_family; }
  const struct sockaddr* get() const { return reinterpret_cast<const struct sockaddr*>(&ss); }
  struct sockaddr* get() { return reinterpret_cast<struct sockaddr*>(&ss); }
};

// `host` may carry an IPv6 zone (fe80::1%eth0 or %2). False with *error naming what is wrong.
bool InetAddress(bool v6, const std::string& host, int port, SockAddr* out, std::string* error);
// An abstract name is exactly its bytes after a leading NUL; a path carries its terminating NUL.
bool UnixAddress(const std::string& path, bool abstract, SockAddr* out, std::string* error);

// '' for an unnamed or unknown address. With `withScope`, an IPv6 zone as its index: [fe80::1%2]:5,
// which a link-local client cannot be reached without (handover text).
std::string FormatAddress(const struct sockaddr_storage& addr, socklen_t len, bool withScope = false);
inline std::string FormatAddress(const SockAddr& a, bool withScope = false) {
  return FormatAddress(a.ss, a.len, withScope);
}

// Parses FormatAddress(..., true) text of `family` into the exact bytes the kernel reports for that
// peer, so the result matches received addresses byte for byte. An inet port must be 1-65535: nobody
// sends from port 0. False with *error on bad input.
bool ParseAddressText(const std::string& text, int family, SockAddr* out, std::string* error);

}  // namespace sockrelay
