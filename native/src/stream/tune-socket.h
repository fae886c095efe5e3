// Options the relay sets on both sockets of a connection once it relays.
#pragma once
#include <cstdint>

namespace sockrelay {

// TCP_NODELAY, and with keepaliveMs > 0 TCP keepalive as Node's socket.setKeepAlive(true, ms)
// sets it, so that both engines probe alike. Unix sockets are left alone.
void TuneSocket(int fd, uint64_t keepaliveMs);

}  // namespace sockrelay
