#include "stream/tune-socket.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>

namespace sockrelay {
namespace {

// libuv (uv__tcp_keepalive) probes every second, ten times, once the connection has been idle.
constexpr int kKeepaliveIntervalS = 1;
constexpr int kKeepaliveCount = 10;
// TCP_KEEPIDLE's ceiling in the kernel (MAX_TCP_KEEPIDLE).
constexpr uint64_t kKeepaliveIdleMaxS = 32767;

// Best effort, as in Node: a socket that refuses an option still relays.
bool SetInt(int fd, int level, int name, int value) { return setsockopt(fd, level, name, &value, sizeof value) == 0; }

}  // namespace

void TuneSocket(int fd, uint64_t keepaliveMs) {
  // A proxy must not add Nagle's delay the client never asked for. A unix socket refuses the option
  // (EOPNOTSUPP), which is how it is told apart from TCP without another system call.
  if (!SetInt(fd, IPPROTO_TCP, TCP_NODELAY, 1) || keepaliveMs == 0) return;
  // Node truncates to whole seconds; under one second it leaves the kernel's default idle time
  // (TCP_KEEPIDLE 0 is EINVAL), which is no one's intent, so the least here is one second.
  uint64_t idle = std::min(std::max<uint64_t>(keepaliveMs / 1000, 1), kKeepaliveIdleMaxS);
  SetInt(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
  SetInt(fd, IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(idle));
  SetInt(fd, IPPROTO_TCP, TCP_KEEPINTVL, kKeepaliveIntervalS);
  SetInt(fd, IPPROTO_TCP, TCP_KEEPCNT, kKeepaliveCount);
}

}  // namespace sockrelay
