#include "dgram/pktinfo.h"

#include <cerrno>
#include <cstring>

namespace sockrelay {

int EnableUdpPktinfo(int fd, int family) {
  int on = 1;
  switch (family) {
    case AF_INET:
      return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) < 0 ? errno : 0;
    case AF_INET6:
      // Also covers IPv4 datagrams on a dual-stack socket: the kernel reports them as v4-mapped
      // IPV6_PKTINFO and accepts a v4-mapped IPV6_PKTINFO on the reply.
      return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) < 0 ? errno : 0;
    default:
      return 0;
  }
}

namespace {

size_t WriteControl4(const struct in_addr& source, unsigned char* out) {
  // Interface 0 leaves the route back to the routing table (asymmetric routes stay possible).
  struct in_pktinfo reply {};
  reply.ipi_spec_dst = source;
  auto* h = reinterpret_cast<struct cmsghdr*>(out);
  h->cmsg_level = IPPROTO_IP;
  h->cmsg_type = IP_PKTINFO;
  h->cmsg_len = CMSG_LEN(sizeof reply);
  memcpy(CMSG_DATA(h), &reply, sizeof reply);
  return CMSG_SPACE(sizeof reply);
}

size_t WriteControl6(const struct in6_addr& source, unsigned ifindex, unsigned char* out) {
  struct in6_pktinfo reply {};
  reply.ipi6_addr = source;
  // A link-local source is only meaningful on the interface it belongs to.
  if (IN6_IS_ADDR_LINKLOCAL(&source)) reply.ipi6_ifindex = ifindex;
  auto* h = reinterpret_cast<struct cmsghdr*>(out);
  h->cmsg_level = IPPROTO_IPV6;
  h->cmsg_type = IPV6_PKTINFO;
  h->cmsg_len = CMSG_LEN(sizeof reply);
  memcpy(CMSG_DATA(h), &reply, sizeof reply);
  return CMSG_SPACE(sizeof reply);
}

}  // namespace

size_t BuildUdpReplyControl(const struct msghdr& received, unsigned char* out) {
  if (received.msg_controllen == 0) return 0;
  // CMSG_NXTHDR takes a non-const header; it only reads it.
  struct msghdr* msg = const_cast<struct msghdr*>(&received);
  for (struct cmsghdr* c = CMSG_FIRSTHDR(msg); c != nullptr; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      struct in_pktinfo in;
      memcpy(&in, CMSG_DATA(c), sizeof in);
      // ipi_spec_dst is the destination for unicast and the kernel's preferred local address for
      // broadcast and multicast, where answering from the group address would be wrong.
      return WriteControl4(in.ipi_spec_dst, out);
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo in6;
      memcpy(&in6, CMSG_DATA(c), sizeof in6);
      if (IN6_IS_ADDR_MULTICAST(&in6.ipi6_addr)) return 0;
      return WriteControl6(in6.ipi6_addr, in6.ipi6_ifindex, out);
    }
  }
  return 0;
}

size_t BuildUdpReplyControlFrom(const SockAddr& source, unsigned char* out) {
  if (source.ss.ss_family == AF_INET) {
    return WriteControl4(reinterpret_cast<const struct sockaddr_in*>(&source.ss)->sin_addr, out);
  }
  if (source.ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const struct sockaddr_in6*>(&source.ss);
    if (IN6_IS_ADDR_MULTICAST(&in6->sin6_addr)) return 0;
    return WriteControl6(in6->sin6_addr, in6->sin6_scope_id, out);
  }
  return 0;
}

bool UdpReplySource(const unsigned char* control, size_t length, const SockAddr& local, SockAddr* out) {
  if (length < CMSG_LEN(0)) return false;
  // Only ever one control message, written by WriteControl4 or WriteControl6 into an aligned buffer.
  const auto* h = reinterpret_cast<const struct cmsghdr*>(control);
  const unsigned char* data = CMSG_DATA(h);
  *out = SockAddr{};
  if (h->cmsg_level == IPPROTO_IP && h->cmsg_type == IP_PKTINFO && local.ss.ss_family == AF_INET) {
    struct in_pktinfo in;
    memcpy(&in, data, sizeof in);
    auto* sin = reinterpret_cast<struct sockaddr_in*>(&out->ss);
    sin->sin_family = AF_INET;
    sin->sin_port = reinterpret_cast<const struct sockaddr_in*>(&local.ss)->sin_port;
    sin->sin_addr = in.ipi_spec_dst;
    out->len = sizeof *sin;
    return true;
  }
  if (h->cmsg_level == IPPROTO_IPV6 && h->cmsg_type == IPV6_PKTINFO && local.ss.ss_family == AF_INET6) {
    struct in6_pktinfo in6;
    memcpy(&in6, data, sizeof in6);
    auto* sin6 = reinterpret_cast<struct sockaddr_in6*>(&out->ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = reinterpret_cast<const struct sockaddr_in6*>(&local.ss)->sin6_port;
    sin6->sin6_addr = in6.ipi6_addr;
    sin6->sin6_scope_id = in6.ipi6_ifindex;
    out->len = sizeof *sin6;
    return true;
  }
  return false;
}

void UdpDestination(const struct msghdr& received, const SockAddr& local, SockAddr* out) {
  *out = local;
  if (received.msg_controllen == 0) return;
  struct msghdr* msg = const_cast<struct msghdr*>(&received);
  for (struct cmsghdr* c = CMSG_FIRSTHDR(msg); c != nullptr; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && local.ss.ss_family == AF_INET) {
      // ipi_addr is the header's destination: what the client sent to (ipi_spec_dst is our reply source).
      struct in_pktinfo in;
      memcpy(&in, CMSG_DATA(c), sizeof in);
      reinterpret_cast<struct sockaddr_in*>(&out->ss)->sin_addr = in.ipi_addr;
      return;
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO && local.ss.ss_family == AF_INET6) {
      struct in6_pktinfo in6;
      memcpy(&in6, CMSG_DATA(c), sizeof in6);
      reinterpret_cast<struct sockaddr_in6*>(&out->ss)->sin6_addr = in6.ipi6_addr;
      return;
    }
  }
}

}  // namespace sockrelay
