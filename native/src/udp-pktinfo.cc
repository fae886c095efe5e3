#include "udp-pktinfo.h"

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

size_t BuildUdpReplyControl(const struct msghdr& received, unsigned char* out) {
  if (received.msg_controllen == 0) return 0;
  // CMSG_NXTHDR takes a non-const header; it only reads it.
  struct msghdr* msg = const_cast<struct msghdr*>(&received);
  for (struct cmsghdr* c = CMSG_FIRSTHDR(msg); c != nullptr; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      struct in_pktinfo in;
      memcpy(&in, CMSG_DATA(c), sizeof in);
      // ipi_spec_dst is the destination for unicast and the kernel's preferred local address for
      // broadcast and multicast, where answering from the group address would be wrong. Interface 0
      // leaves the route back to the routing table (asymmetric routes stay possible).
      struct in_pktinfo reply {};
      reply.ipi_spec_dst = in.ipi_spec_dst;
      auto* h = reinterpret_cast<struct cmsghdr*>(out);
      h->cmsg_level = IPPROTO_IP;
      h->cmsg_type = IP_PKTINFO;
      h->cmsg_len = CMSG_LEN(sizeof reply);
      memcpy(CMSG_DATA(h), &reply, sizeof reply);
      return CMSG_SPACE(sizeof reply);
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo in6;
      memcpy(&in6, CMSG_DATA(c), sizeof in6);
      if (IN6_IS_ADDR_MULTICAST(&in6.ipi6_addr)) return 0;
      struct in6_pktinfo reply {};
      reply.ipi6_addr = in6.ipi6_addr;
      // A link-local source is only meaningful on the interface it belongs to.
      if (IN6_IS_ADDR_LINKLOCAL(&in6.ipi6_addr)) reply.ipi6_ifindex = in6.ipi6_ifindex;
      auto* h = reinterpret_cast<struct cmsghdr*>(out);
      h->cmsg_level = IPPROTO_IPV6;
      h->cmsg_type = IPV6_PKTINFO;
      h->cmsg_len = CMSG_LEN(sizeof reply);
      memcpy(CMSG_DATA(h), &reply, sizeof reply);
      return CMSG_SPACE(sizeof reply);
    }
  }
  return 0;
}

void UdpDestination(const struct msghdr& received, const UdpAddr& local, UdpAddr* out) {
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
