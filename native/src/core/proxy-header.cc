#include "core/proxy-header.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace sockrelay {
namespace {

constexpr size_t kSunPathSize = 108;
constexpr unsigned char kSignature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr unsigned char kLocal = 0x20, kProxy = 0x21;
// Address family in the high nibble, transport in the low one: 1 stream, 2 datagram.
constexpr unsigned char kInet = 0x10, kInet6 = 0x20, kUnix = 0x30;
constexpr unsigned char kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

enum class Kind { kUnknown, kIp, kUnix };

Kind KindOf(const SockAddr& a) {
  if (a.len == 0) return Kind::kUnknown;
  if (a.family() == AF_INET || a.family() == AF_INET6) return Kind::kIp;
  return a.family() == AF_UNIX ? Kind::kUnix : Kind::kUnknown;
}

// One IP end as the header carries it: 4 or 16 address bytes, the port in host order.
struct IpEnd {
  unsigned char addr[16];
  size_t size;
  uint16_t port;
};

IpEnd ToIpEnd(const SockAddr& a) {
  IpEnd e{};
  if (a.family() == AF_INET) {
    const auto* in = reinterpret_cast<const struct sockaddr_in*>(&a.ss);
    memcpy(e.addr, &in->sin_addr, 4);
    e.size = 4;
    e.port = ntohs(in->sin_port);
  } else {
    // The zone (sin6_scope_id) is dropped: neither form of the header can carry one.
    const auto* in6 = reinterpret_cast<const struct sockaddr_in6*>(&a.ss);
    memcpy(e.addr, &in6->sin6_addr, 16);
    e.size = 16;
    e.port = ntohs(in6->sin6_port);
  }
  return e;
}

bool IsMapped(const IpEnd& e) { return e.size == 16 && memcmp(e.addr, kMappedPrefix, sizeof kMappedPrefix) == 0; }

void Unmap(IpEnd* e) {
  memmove(e->addr, e->addr + 12, 4);
  e->size = 4;
}

void Map(IpEnd* e) {
  memmove(e->addr + 12, e->addr, 4);
  memcpy(e->addr, kMappedPrefix, sizeof kMappedPrefix);
  e->size = 16;
}

// Both ends in one family, as encode.ts decides it.
void Normalize(IpEnd* src, IpEnd* dst) {
  if (src->size == 16 && dst->size == 16) {
    if (IsMapped(*src) && IsMapped(*dst)) Unmap(src), Unmap(dst);
  } else if (src->size != dst->size) {
    IpEnd* v6 = src->size == 16 ? src : dst;
    IpEnd* v4 = src->size == 16 ? dst : src;
    if (IsMapped(*v6)) Unmap(v6);
    else Map(v4);
  }
}

// RFC 5952, as formatIPv6 in ip.ts: lower case, no leading zeros, the longest run (the first if
// tied) of two or more zero groups as "::", and a mapped address as ::ffff:a.b.c.d.
void FormatIp(const IpEnd& e, char* out, size_t size) {
  const unsigned char* b = e.addr;
  if (e.size == 4) {
    snprintf(out, size, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
    return;
  }
  if (IsMapped(e)) {
    snprintf(out, size, "::ffff:%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
    return;
  }
  unsigned words[8];
  for (int i = 0; i < 8; i++) words[i] = (b[2 * i] << 8) | b[2 * i + 1];
  int bestStart = -1, bestLength = 1;
  for (int i = 0; i < 8;) {
    if (words[i] != 0) {
      i++;
      continue;
    }
    int j = i;
    while (j < 8 && words[j] == 0) j++;
    if (j - i > bestLength) bestStart = i, bestLength = j - i;
    i = j;
  }
  size_t n = 0;
  for (int i = 0; i < 8 && n < size; i++) {
    if (i == bestStart) {
      n += snprintf(out + n, size - n, "::");
      i += bestLength - 1;
      continue;
    }
    bool afterGap = bestStart >= 0 && i == bestStart + bestLength;
    n += snprintf(out + n, size - n, "%s%x", i == 0 || afterGap ? "" : ":", words[i]);
  }
}

// sun_path bytes as the kernel reported them (an abstract name keeps its leading NUL), NUL-padded.
void SunPath(const SockAddr& a, unsigned char* out) {
  memset(out, 0, kSunPathSize);
  size_t offset = offsetof(struct sockaddr_un, sun_path);
  if (a.family() != AF_UNIX || a.len <= offset) return;
  size_t n = a.len - offset;
  memcpy(out, reinterpret_cast<const struct sockaddr_un*>(&a.ss)->sun_path, n < kSunPathSize ? n : kSunPathSize);
}

size_t FinishV2(unsigned char* out, unsigned char command, unsigned char family, size_t body) {
  memcpy(out, kSignature, sizeof kSignature);
  out[12] = command;
  out[13] = family;
  out[14] = static_cast<unsigned char>(body >> 8);
  out[15] = static_cast<unsigned char>(body & 0xff);
  return 16 + body;
}

size_t Copy(const char* text, unsigned char* out) {
  size_t n = strlen(text);
  memcpy(out, text, n);
  return n;
}

}  // namespace

size_t BuildProxyHeader(int version, Transport transport, const SockAddr& source, const SockAddr& destination,
                        unsigned char* out) {
  unsigned char proto = transport == Transport::kStream ? 0x01 : 0x02;
  Kind src = KindOf(source), dst = KindOf(destination);
  bool unix = src == Kind::kUnix || dst == Kind::kUnix;
  // A unix end paired with an IP end is no flow the header can describe; a missing end of a unix
  // flow is an unnamed one.
  bool unknown = unix ? src == Kind::kIp || dst == Kind::kIp : src != Kind::kIp || dst != Kind::kIp;
  if (unknown || (unix && version == 1)) {
    return version == 1 ? Copy("PROXY UNKNOWN\r\n", out) : FinishV2(out, kLocal, 0x00, 0);
  }
  if (unix) {
    SunPath(source, out + 16);
    SunPath(destination, out + 16 + kSunPathSize);
    return FinishV2(out, kProxy, kUnix | proto, 2 * kSunPathSize);
  }
  IpEnd s = ToIpEnd(source), d = ToIpEnd(destination);
  Normalize(&s, &d);
  if (version == 1) {
    char from[64], to[64];
    FormatIp(s, from, sizeof from);
    FormatIp(d, to, sizeof to);
    // At most 107 bytes, as the spec promises: two 39-byte IPv6 texts, two ports and the words.
    int n = snprintf(reinterpret_cast<char*>(out), kProxyHeaderMax, "PROXY %s %s %s %u %u\r\n",
                     s.size == 4 ? "TCP4" : "TCP6", from, to, s.port, d.port);
    return static_cast<size_t>(n);
  }
  unsigned char* body = out + 16;
  size_t n = s.size;
  memcpy(body, s.addr, n);
  memcpy(body + n, d.addr, n);
  body[2 * n] = static_cast<unsigned char>(s.port >> 8);
  body[2 * n + 1] = static_cast<unsigned char>(s.port & 0xff);
  body[2 * n + 2] = static_cast<unsigned char>(d.port >> 8);
  body[2 * n + 3] = static_cast<unsigned char>(d.port & 0xff);
  return FinishV2(out, kProxy, (n == 4 ? kInet : kInet6) | proto, 2 * n + 4);
}

}  // namespace sockrelay
