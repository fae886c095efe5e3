// Vocabulary shared by the relay engine's parts: configuration, counters, errno buckets, clock.
#pragma once
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "relay-histogram.h"

namespace sockrelay {

struct BackendAddress {
  struct sockaddr_storage addr;
  socklen_t len;
};

struct RelayConfig {
  struct Listener {
    int fd;
    size_t backend;
    // PROXY protocol header on each backend connection: 0 none, 1 or 2 the version.
    int proxyProtocol = 0;
  };
  std::vector<Listener> listeners;
  std::vector<std::vector<BackendAddress>> backends;
  uint32_t connectionsMax = 256;
  int pipeSize = 0;
  uint64_t connectTimeoutMs = 0;
  unsigned threads = 1;
  // A relaying connection with no byte either way for this long is closed; 0: never.
  uint64_t idleTimeoutMs = 0;
  // TCP keepalive idle time on both sockets of a connection; 0: keepalive off.
  uint64_t keepaliveMs = 0;
  bool connectionEvents = false;
  // Histogram bounds in seconds; empty: no histogram.
  std::vector<double> connectBounds;
  std::vector<double> durationBounds;
};

struct ListenerCounters {
  std::atomic<uint64_t> bytesIn{0};
  std::atomic<uint64_t> bytesOut{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> active{0};
  std::atomic<uint64_t> failedRefused{0};
  std::atomic<uint64_t> failedTimeout{0};
  std::atomic<uint64_t> failedOther{0};
  std::unique_ptr<Histogram> connectTime;
  std::unique_ptr<Histogram> duration;
};

// The three buckets of socket-proxyd: wait and retry, the peer went away, or something worth logging.
enum class ErrnoKind { kTransient, kDisconnect, kOther };
ErrnoKind ClassifyErrno(int err);

// CLOCK_MONOTONIC.
uint64_t NowUs();
inline uint64_t NowMs() { return NowUs() / 1000; }

// Closes fd if open and returns -1, so that `fd = SafeClose(fd)` never closes twice.
int SafeClose(int fd);

}  // namespace sockrelay
