// The buffers of one recvmmsg/sendmmsg round. One set serves both directions: the relay thread
// handles one batch at a time, and a reply batch is sent before the next read.
#pragma once
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <memory>

#include "dgram/session.h"

namespace sockrelay {

constexpr int kUdpBatch = 32;
// The largest UDP payload is 65,507 bytes over IPv4 and 65,527 over IPv6; a bigger unix datagram is
// dropped as truncated.
constexpr size_t kUdpDatagramMax = 65536;
// IP_PKTINFO needs 32 bytes; room for whatever else someone enabled on the inherited socket.
constexpr size_t kUdpRecvControlSize = 128;

struct UdpBatch {
  struct mmsghdr in[kUdpBatch];
  struct iovec inIov[kUdpBatch];
  SockAddr names[kUdpBatch];
  unsigned char control[kUdpBatch][kUdpRecvControlSize];
  struct mmsghdr out[kUdpBatch];
  struct iovec outIov[kUdpBatch];
  // Left uninitialised so that the untouched pages of these 2 MiB never become resident.
  std::unique_ptr<unsigned char[]> data{new unsigned char[kUdpBatch * kUdpDatagramMax]};

  // The kernel overwrites lengths on every call: reset them all before each recvmmsg.
  void PrepareRecv(bool withAddress) {
    for (int k = 0; k < kUdpBatch; k++) {
      inIov[k] = {data.get() + k * kUdpDatagramMax, kUdpDatagramMax};
      struct msghdr& h = in[k].msg_hdr;
      h = {};
      h.msg_iov = &inIov[k];
      h.msg_iovlen = 1;
      if (withAddress) {
        h.msg_name = &names[k].ss;
        h.msg_namelen = sizeof names[k].ss;
        h.msg_control = control[k];
        h.msg_controllen = kUdpRecvControlSize;
      }
    }
  }
};

}  // namespace sockrelay
