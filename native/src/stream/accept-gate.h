// The accept gate: the one place that decides whether the listeners are watched.
//
// Accepting, the open-connection count, the cap, the EMFILE pause and tryStop() all meet here under
// one mutex, so "stop if nothing is open" cannot race with an accept on another thread, and busy/idle
// events come out in the order the count moved. Closing the gate removes the listeners from every
// loop's epoll: clients then wait in the kernel's backlog instead of being accepted and dropped.
#pragma once
#include <sys/socket.h>

#include <cstdint>
#include <mutex>
#include <vector>

#include "core/address.h"
#include "core/source-table.h"
#include "core/unique-fd.h"
#include "stream/event-queue.h"
#include "stream/options.h"

namespace sockrelay {

class AcceptGate {
 public:
  // `sources` (may be null: no per-source limits) is counted under the gate's mutex.
  AcceptGate(const RelayConfig& config, EventSink& events, SourceTable* sources = nullptr);

  void AddLoop(int epollFd);
  // Starts accepting; 0 or the errno of the epoll_ctl that failed.
  int Open();
  // Accepts one client of `listener` if the gate is open: its socket, or none with *err set (EAGAIN
  // when closed). A client over its source's limits comes back with *verdict saying so, uncounted,
  // for the caller to refuse; an admitted one holds *source.
  UniqueFd Accept(size_t listener, SockAddr* peer, int* err, SourceTicket* source, SourceVerdict* verdict);
  // A connection accepted here has closed (or was handed over); `source` is released with it.
  void Release(SourceTicket* source = nullptr);
  // A connection handed over by a previous instance counts for its source, over its limits or not.
  void CountSource(const SockAddr& peer, SourceTicket* source);
  // A connection handed over by a previous instance counts as open, as if accepted.
  void AddOpen();
  void Pause(uint64_t until);
  void Resume(uint64_t now);
  bool TryStop();
  // Undoes a TryStop() that succeeded, unless StopAccepting() came since: the idle exit stops every
  // source or none, so a source stopped before another refused must take clients again. 0 or errno.
  int ResumeAfterTryStop();
  void StopAccepting();
  // Stops accepting for good and forgets the loops, whose epolls are about to close.
  void Shutdown();
  uint32_t open();

  // epoll data of a listener: its index, tagged so loops can tell it from a connection.
  static constexpr uint64_t kListenerTag = 1;

 private:
  int Sync();

  const RelayConfig& config_;
  EventSink& events_;
  SourceTable* sources_;
  std::mutex mutex_;
  std::vector<int> epolls_;
  bool accepting_ = false;
  bool watched_ = false;
  bool stoppedByTry_ = false;
  uint64_t pausedUntil_ = 0;
  uint32_t open_ = 0;
};

}  // namespace sockrelay
