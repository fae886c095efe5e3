// The stream relay's configuration (RelayEngineOptions, checked by js/stream-options.cc) and counters.
#pragma once
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/address.h"
#include "core/source-table.h"
#include "core/unique-fd.h"
#include "stream/histogram.h"

namespace sockrelay {

struct RelayConfig {
  struct Listener {
    // The engine's own (the caller gives it a dup of a listening socket other engines may share),
    // closed at destroy. Empty for an engine that never accepts (an Accept=yes connection's: its one
    // client is adopted).
    UniqueFd fd;
    size_t backend = 0;
    // PROXY protocol header on each backend connection: 0 none, 1 or 2 the version.
    int proxyProtocol = 0;
    // Backend connections bound to the client's address and port (core/transparent.h).
    bool transparent = false;
  };
  std::vector<Listener> listeners;
  std::vector<std::vector<SockAddr>> backends;
  uint32_t connectionsMax = 256;
  int pipeSize = 0;
  // Splice pipes open at once, pooled ones included (stream/pipe-pool.h).
  uint32_t pipesMax = 512;
  uint64_t connectTimeoutMs = 0;
  // A relaying connection with no byte either way for this long is closed; 0: never.
  uint64_t idleTimeoutMs = 0;
  // TCP keepalive idle time on both sockets of a connection; 0: keepalive off.
  uint64_t keepaliveMs = 0;
  bool connectionEvents = false;
  // Per-source admission (core/source-table.h); off unless a limit is set.
  SourceLimits sources;
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
  // Clients reset at accept, their source over its connection limit or its rate.
  std::atomic<uint64_t> refusedPerSource{0};
  std::atomic<uint64_t> refusedPerSourceRate{0};
  std::unique_ptr<Histogram> connectTime;
  std::unique_ptr<Histogram> duration;
};

}  // namespace sockrelay
