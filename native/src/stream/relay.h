// The relay engine without JavaScript: configuration, counters, gate, event queue and its thread.
#pragma once
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "core/relay-thread.h"
#include "core/source-table.h"
#include "core/stop-gate.h"
#include "stream/backend-table.h"
#include "stream/events.h"
#include "stream/handover.h"
#include "stream/loop.h"
#include "stream/options.h"

namespace sockrelay {

class RelayCore {
 public:
  explicit RelayCore(RelayConfig config);
  ~RelayCore();
  RelayCore(const RelayCore&) = delete;
  RelayCore& operator=(const RelayCore&) = delete;

  // 0, or an errno with *syscall naming the call that failed (nothing is left running then).
  int Start(const char** syscall);
  // Stops accepting, resets every connection, joins the thread. Idempotent, any thread but the loop's.
  void Shutdown();
  // Before Start(): relay this connection, handed over by a previous instance, as an open one of its
  // listener. The core owns the fds from here. 0, or EALREADY once started (the fds left in `handed`).
  int AdoptConnection(HandedConnection&& handed);
  // Before Start(): a client accepted elsewhere (systemd's Accept=yes) takes this listener's accept
  // path from the connect on: backend, retries, PROXY header. The core owns the fd from here (also
  // when it refuses with EALREADY once started: the fd is closed then).
  int AdoptClient(size_t listener, UniqueFd client);
  // Stops accepting. Before Start(), for good: the engine then only relays what it adopted (a drainer
  // for the connections a handover could not store).
  void StopAccepting();
  // Handover (stream/handover.h): stops accepting and detaches the connections that flush within
  // timeoutMs. `done` runs exactly once, on some thread, with the detached ones. 0, or EBUSY while
  // another export runs.
  int ExportConnections(uint64_t timeoutMs, ExportJob<HandedConnection>::Done done);

  const RelayConfig& config() const { return config_; }
  BackendTable& backends() { return backends_; }
  const std::vector<ListenerCounters>& counters() const { return counters_; }
  StopGate& gate() { return gate_; }
  RelayEventSink& events() { return events_; }
  void SetNotify(std::function<void()> notify) { events_.SetNotify(std::move(notify)); }

 private:
  void StopThread();

  RelayConfig config_;
  BackendTable backends_;
  std::vector<ListenerCounters> counters_;
  RelayEventSink events_;
  // Null without per-source limits. Used by the loop, on the relay thread only; declared before
  // loop_, whose connections release into it as they close.
  std::unique_ptr<SourceTable> sources_;
  StopGate gate_;
  std::atomic<uint64_t> nextId_{0};
  // Before loop_, which takes the export its thread is asked for from here.
  ConnectionExport exports_;
  std::unique_ptr<RelayLoop> loop_;
  RelayThread thread_;
  std::mutex lifecycle_;
  bool started_ = false;
  bool shutdown_ = false;
  bool neverAccept_ = false;
};

}  // namespace sockrelay
