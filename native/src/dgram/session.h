// A UDP session: the connected upstream socket of one client address, and how one is opened.
#pragma once
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/address.h"
#include "core/source-table.h"
#include "core/unique-fd.h"
#include "dgram/pktinfo.h"

namespace sockrelay {

// Zeroes the fields the kernel may vary between datagrams of one peer (IPv6 flow label).
void NormalizeUdpAddr(SockAddr* addr);

// The address with an IPv4-mapped IPv6 address turned into plain IPv4 and the bytes the kernel may vary
// (flow label, padding) zeroed, so that one endpoint compares equal however a socket reports it.
SockAddr CanonicalUdpAddr(const SockAddr& addr);

struct SockAddrHash {
  size_t operator()(const SockAddr& a) const;
};
struct SockAddrEqual {
  bool operator()(const SockAddr& a, const SockAddr& b) const;
};

struct UdpSession {
  UniqueFd fd;
  SockAddr client;
  // The upstream socket's own address (canonical): a client claiming it would loop.
  SockAddr upstreamLocal;
  // Control data for replies: the source address the client sent to. Aligned for struct cmsghdr.
  alignas(struct cmsghdr) unsigned char control[kUdpReplyControlSize];
  size_t controlLen = 0;
  // The largest datagram the upstream socket's family carries; 0: no fixed limit (unix).
  size_t payloadMax = 0;
  uint64_t lastActiveMs = 0;
  // For the access log: when the session opened and what it carried each way.
  uint64_t openedMs = 0;
  uint64_t bytesIn = 0;
  uint64_t bytesOut = 0;
  bool dead = false;
  // Its count at its source's entry (core/source-table.h), released when the table removes it.
  SourceTicket source;
  UdpSession* older = nullptr;
  UdpSession* newer = nullptr;
};

// Opens the upstream socket: nonblocking, connected to the first backend address that accepts a
// connect(). A unix socket is bound to an autobind abstract name first, or the backend's replies would
// have nowhere to go. With `transparentClient`, the socket is bound to that client's address and port
// instead (core/transparent.h): addresses of a family that cannot keep it are skipped, and a refused
// bind ends the search, never falling back to the proxy's own address. Returns the socket and sets
// *family to that address's family, or none with *err and *syscall set from the last address tried.
UniqueFd OpenUdpUpstream(const std::vector<SockAddr>& backends, const SockAddr* transparentClient, int* family,
                         int* err, const char** syscall);

// 65,507 bytes over IPv4 and 65,527 over IPv6 (without jumbograms); 0 for unix: no fixed limit.
size_t UdpPayloadMax(int family);

}  // namespace sockrelay
