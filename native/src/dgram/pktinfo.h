// Replying from the address the client sent to.
//
// A datagram socket bound to a wildcard address answers from whatever source the routing table picks,
// which on a multi-homed host is often not the address the client spoke to — and the client, matching
// replies by (address, port), drops the answer. IP_PKTINFO / IPV6_RECVPKTINFO report each datagram's
// destination; handing it back as IP_PKTINFO / IPV6_PKTINFO on the reply pins the source address.
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

#include "core/address.h"

namespace sockrelay {

// Room for the one control message a reply carries (in6_pktinfo is the larger).
constexpr size_t kUdpReplyControlSize = CMSG_SPACE(sizeof(struct in6_pktinfo));

// Enables destination reporting on an inherited socket of `family`. Returns 0 or an errno; AF_UNIX
// needs nothing (a unix socket has one address).
int EnableUdpPktinfo(int fd, int family);

// From the control data of a received datagram, writes the control data for its reply into `out`
// (kUdpReplyControlSize bytes) and returns its length, or 0 when the kernel should choose the source.
size_t BuildUdpReplyControl(const struct msghdr& received, unsigned char* out);

// The same control data made from an address instead (its port ignored), for a session handed over
// from a previous instance; 0 for an address that is not inet or inet6.
size_t BuildUdpReplyControlFrom(const SockAddr& source, unsigned char* out);

// The reverse, for handing a session over: the address replies leave from, with the port of `local`
// (the socket's own address). False when the control data pins no source.
bool UdpReplySource(const unsigned char* control, size_t length, const SockAddr& local, SockAddr* out);

// Where a received datagram was sent to: `local` (the socket's own address and port) with the address
// replaced by the IP_PKTINFO / IPV6_PKTINFO destination when the control data has one.
void UdpDestination(const struct msghdr& received, const SockAddr& local, SockAddr* out);

}  // namespace sockrelay
