// A socket address with its length, as the UDP relay keeps clients, backends and its own address.
#pragma once
#include <sys/socket.h>

namespace sockrelay {

// Compared byte-wise over `len` (see udp-session.h), so callers normalise it first.
struct UdpAddr {
  struct sockaddr_storage ss;
  socklen_t len = 0;
};

}  // namespace sockrelay
