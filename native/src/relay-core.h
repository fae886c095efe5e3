// The relay engine without JavaScript: configuration, counters, gate, event queue and the threads.
#pragma once
#include <pthread.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "relay-common.h"
#include "relay-events.h"
#include "relay-gate.h"
#include "relay-loop.h"

namespace sockrelay {

class RelayCore {
 public:
  explicit RelayCore(RelayConfig config);
  ~RelayCore();
  RelayCore(const RelayCore&) = delete;
  RelayCore& operator=(const RelayCore&) = delete;

  // 0, or an errno with *syscall naming the call that failed (nothing is left running then).
  int Start(const char** syscall);
  // Stops accepting, resets every connection, joins the threads. Idempotent, any thread but a loop's.
  void Shutdown();

  const RelayConfig& config() const { return config_; }
  const std::vector<ListenerCounters>& counters() const { return counters_; }
  AcceptGate& gate() { return gate_; }
  EventSink& events() { return events_; }

 private:
  void StopThreads();

  RelayConfig config_;
  std::vector<ListenerCounters> counters_;
  EventSink events_;
  AcceptGate gate_;
  std::atomic<uint64_t> nextId_{0};
  std::vector<std::unique_ptr<RelayLoop>> loops_;
  std::vector<pthread_t> threads_;
  std::mutex lifecycle_;
  bool started_ = false;
  bool shutdown_ = false;
};

}  // namespace sockrelay
