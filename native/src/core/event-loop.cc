#include "core/event-loop.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace sockrelay {

int EventLoop::Init(const char** syscall) {
  epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return *syscall = "epoll_create1", errno;
  wake_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_) return *syscall = "eventfd", errno;
  int err = Add(wake_.get(), EPOLLIN, kWakeTag);
  if (err) return *syscall = "epoll_ctl", err;
  return 0;
}

int EventLoop::Add(int fd, uint32_t events, uint64_t tag) { return Control(EPOLL_CTL_ADD, fd, events, tag); }

int EventLoop::Modify(int fd, uint32_t events, uint64_t tag) { return Control(EPOLL_CTL_MOD, fd, events, tag); }

int EventLoop::Control(int op, int fd, uint32_t events, uint64_t tag) {
  struct epoll_event ev = {};
  ev.events = events;
  ev.data.u64 = tag;
  return epoll_ctl(epoll_.get(), op, fd, &ev) < 0 ? errno : 0;
}

void EventLoop::Remove(int fd) { epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }

int EventLoop::Wait(struct epoll_event* events, int max, int timeoutMs) {
  int n = epoll_wait(epoll_.get(), events, max, timeoutMs);
  if (n < 0) return errno == EINTR ? 0 : -1;
  int kept = 0;
  for (int i = 0; i < n; i++) {
    if (events[i].data.u64 == kWakeTag) {
      uint64_t value;
      (void)!read(wake_.get(), &value, sizeof value);
      continue;
    }
    events[kept++] = events[i];
  }
  return kept;
}

void EventLoop::Wake() {
  uint64_t one = 1;
  // The eventfd counter cannot overflow from one write; EINTR is the only failure worth a retry.
  while (write(wake_.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
}

}  // namespace sockrelay
