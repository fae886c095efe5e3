// The stop gate: the one place that decides whether a relay takes new clients, for both relays.
//
// Taking a client (accept4, or the datagram that opens a session), the open count, the cap, the
// pause after an error and tryStop() all meet here under one mutex, so "stop if nothing is open"
// cannot race with a client being taken on the relay's thread, and busy/idle come out in the order
// the count moved. Closing the gate takes the relay's listening socket(s) out of its epoll: clients
// then wait in the kernel (a backlog, a socket buffer) for this instance or the next, instead of
// being taken and dropped.
//
// The mutex is recursive: a relay may end a session while it takes a client (a send that fails).
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>

namespace sockrelay {

class StopGate {
 public:
  // watch(on): puts the listening socket(s) into the relay's epoll, or takes them out (errors then
  // ignored); 0 or the errno of the epoll_ctl that failed. transition(busy): the open count left 0
  // (true) or came back to it (false). Both run under the gate's mutex. `cap`: at this many open,
  // the gate closes until one is released.
  StopGate(uint32_t cap, std::function<int(bool)> watch, std::function<void(bool)> transition);

  // Starts taking clients; 0 or the errno of the epoll_ctl that failed (nothing is watched then).
  int Open();
  // Runs take() if the gate is open, under its mutex, and says whether it ran.
  template <typename Take>
  bool Admit(Take take) {
    std::lock_guard<std::recursive_mutex> lock(mutex_);
    if (!watched_) return false;
    take();
    return true;
  }
  // One more open: taken through Admit(), or adopted from a previous instance.
  void AddOpen();
  // One fewer: it closed, or was handed over.
  void Release();
  // Stops taking clients until `until` (ms) after an error that would repeat at once (EMFILE).
  void Pause(uint64_t until);
  // Ends a pause that is over at `now`.
  void Resume(uint64_t now);
  // The end of the pause in force, 0 for none.
  uint64_t pausedUntil();
  // Stops taking clients if none is open, atomically with Admit(); true then.
  bool TryStop();
  // Undoes a TryStop() that succeeded, unless StopAccepting() came since: the idle exit stops every
  // source or none, so a source stopped before another refused must take clients again. 0 or errno.
  int ResumeAfterTryStop();
  void StopAccepting();
  // Stops for good: nothing is watched again (the relay's epoll is about to close).
  void Shutdown();
  uint32_t open();

 private:
  int Sync();

  const uint32_t cap_;
  const std::function<int(bool)> watch_;
  const std::function<void(bool)> transition_;
  std::recursive_mutex mutex_;
  bool accepting_ = false;
  bool watched_ = false;
  bool stoppedByTry_ = false;
  bool shutdown_ = false;
  uint64_t pausedUntil_ = 0;
  uint32_t open_ = 0;
};

}  // namespace sockrelay
