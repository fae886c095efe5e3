// PROXY protocol v2 headers for datagrams (haproxy's doc/proxy-protocol.txt), built on the relay
// thread for every client → backend datagram: UDP has no connection to send one header for.
//
// The same rules as src/proxy-protocol/encode.ts, which the tests hold both against: an IPv4 client
// of a dual-stack socket (both ends ::ffff:a.b.c.d) is sent as UDP4; unix ends are two 108-byte
// sun_path fields; anything else is LOCAL with no addresses. Header-only so that the build's
// source list stays as it is.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>

#include "udp-session.h"

namespace sockrelay {

constexpr size_t kProxyV2UnixAddressSize = 108;
// Signature, version/command, family, length, and the largest address block (two unix paths).
constexpr size_t kProxyV2HeaderMax = 16 + 2 * kProxyV2UnixAddressSize;

namespace proxy_v2_detail {

constexpr unsigned char kSignature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                          0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr unsigned char kLocal = 0x20, kProxy = 0x21;
constexpr unsigned char kUdp4 = 0x12, kUdp6 = 0x22, kUnixDgram = 0x32;

// One end as the header carries it: 4 or 16 address bytes and the port in network order.
struct IpEnd {
  unsigned char addr[16];
  size_t size = 0;
  uint16_t portBe = 0;
};

inline bool ToIpEnd(const UdpAddr& a, IpEnd* out) {
  if (a.ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const struct sockaddr_in*>(&a.ss);
    memcpy(out->addr, &in->sin_addr, 4);
    out->size = 4;
    out->portBe = in->sin_port;
    return true;
  }
  if (a.ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const struct sockaddr_in6*>(&a.ss);
    memcpy(out->addr, &in6->sin6_addr, 16);
    out->size = 16;
    out->portBe = in6->sin6_port;
    return true;
  }
  return false;
}

inline bool IsMapped(const IpEnd& e) {
  static constexpr unsigned char kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return e.size == 16 && memcmp(e.addr, kPrefix, sizeof kPrefix) == 0;
}

inline void Unmap(IpEnd* e) {
  memmove(e->addr, e->addr + 12, 4);
  e->size = 4;
}

inline void Map(IpEnd* e) {
  memmove(e->addr + 12, e->addr, 4);
  memset(e->addr, 0, 10);
  e->addr[10] = e->addr[11] = 0xff;
  e->size = 16;
}

// sun_path bytes as the kernel reported them (an abstract name keeps its leading NUL), NUL-padded.
inline void SunPath(const UdpAddr& a, unsigned char* out) {
  memset(out, 0, kProxyV2UnixAddressSize);
  size_t offset = offsetof(struct sockaddr_un, sun_path);
  if (a.len <= offset) return;
  size_t n = a.len - offset;
  if (n > kProxyV2UnixAddressSize) n = kProxyV2UnixAddressSize;
  memcpy(out, reinterpret_cast<const struct sockaddr_un*>(&a.ss)->sun_path, n);
}

inline size_t Finish(unsigned char* out, unsigned char verCmd, unsigned char family, size_t body) {
  memcpy(out, kSignature, sizeof kSignature);
  out[12] = verCmd;
  out[13] = family;
  out[14] = static_cast<unsigned char>(body >> 8);
  out[15] = static_cast<unsigned char>(body & 0xff);
  return 16 + body;
}

}  // namespace proxy_v2_detail

// Writes the header for a datagram from `source` to `destination` into `out` (kProxyV2HeaderMax
// bytes) and returns its length.
inline size_t BuildProxyV2Datagram(const UdpAddr& source, const UdpAddr& destination, unsigned char* out) {
  using namespace proxy_v2_detail;
  unsigned char* body = out + 16;
  if (source.ss.ss_family == AF_UNIX && destination.ss.ss_family == AF_UNIX) {
    SunPath(source, body);
    SunPath(destination, body + kProxyV2UnixAddressSize);
    return Finish(out, kProxy, kUnixDgram, 2 * kProxyV2UnixAddressSize);
  }
  IpEnd src, dst;
  if (!ToIpEnd(source, &src) || !ToIpEnd(destination, &dst)) return Finish(out, kLocal, 0x00, 0);
  if (src.size == 16 && dst.size == 16) {
    if (IsMapped(src) && IsMapped(dst)) Unmap(&src), Unmap(&dst);
  } else if (src.size != dst.size) {
    IpEnd& v6 = src.size == 16 ? src : dst;
    IpEnd& v4 = src.size == 16 ? dst : src;
    if (IsMapped(v6)) Unmap(&v6);
    else Map(&v4);
  }
  size_t n = src.size;
  memcpy(body, src.addr, n);
  memcpy(body + n, dst.addr, n);
  memcpy(body + 2 * n, &src.portBe, 2);
  memcpy(body + 2 * n + 2, &dst.portBe, 2);
  return Finish(out, kProxy, n == 4 ? kUdp4 : kUdp6, 2 * n + 4);
}

}  // namespace sockrelay
