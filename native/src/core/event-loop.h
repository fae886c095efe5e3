// The epoll wrapper both relays run on: one epoll set and an eventfd that wakes it from any thread.
// Each watched fd carries a 64-bit tag the owner interprets; kWakeTag is reserved for the eventfd.
#pragma once
#include <sys/epoll.h>

#include <cstdint>

#include "core/unique-fd.h"

namespace sockrelay {

class EventLoop {
 public:
  static constexpr uint64_t kWakeTag = UINT64_MAX;

  // 0, or an errno with *syscall naming the call that failed.
  int Init(const char** syscall);
  int fd() const { return epoll_.get(); }
  // 0 or an errno.
  int Add(int fd, uint32_t events, uint64_t tag);
  // Changes what a watched fd is watched for, and its tag; 0 or an errno. The fd's current state is
  // reported again (EPOLL_CTL_MOD polls it), so no edge is lost by turning an event off and on.
  int Modify(int fd, uint32_t events, uint64_t tag);
  // Errors are ignored: the fd may not be watched (any more).
  void Remove(int fd);
  // epoll_wait; a wake-up is consumed here and not reported. -1 only when the epoll set is unusable.
  int Wait(struct epoll_event* events, int max, int timeoutMs);
  // Any thread: makes the current or next Wait() return.
  void Wake();
  // Closes the epoll set and the eventfd, once no thread waits on them.
  void Close() {
    epoll_.Close();
    wake_.Close();
  }

 private:
  int Control(int op, int fd, uint32_t events, uint64_t tag);

  UniqueFd epoll_;
  UniqueFd wake_;
};

}  // namespace sockrelay
