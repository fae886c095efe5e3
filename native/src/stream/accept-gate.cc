#include "stream/accept-gate.h"

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>

namespace sockrelay {

AcceptGate::AcceptGate(const RelayConfig& config, EventSink& events) : config_(config), events_(events) {}

void AcceptGate::SetLoop(int epollFd) {
  std::lock_guard<std::mutex> lock(mutex_);
  epoll_ = epollFd;
}

int AcceptGate::Open() {
  std::lock_guard<std::mutex> lock(mutex_);
  accepting_ = true;
  int err = Sync();
  if (err == 0) return 0;
  accepting_ = false;
  for (const auto& listener : config_.listeners) epoll_ctl(epoll_, EPOLL_CTL_DEL, listener.fd, nullptr);
  return err;
}

UniqueFd AcceptGate::Accept(size_t listener, SockAddr* peer, int* err) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!watched_) return *err = EAGAIN, UniqueFd();
  peer->len = sizeof peer->ss;
  UniqueFd fd(accept4(config_.listeners[listener].fd, peer->get(), &peer->len, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (!fd) return *err = errno, UniqueFd();
  if (++open_ == 1) events_.Push({RelayEventRecord::Type::kBusy});
  if (open_ >= config_.connectionsMax) Sync();
  return fd;
}

void AcceptGate::Release() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (--open_ == 0) events_.Push({RelayEventRecord::Type::kIdle});
  Sync();
}

void AcceptGate::AddOpen() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (++open_ == 1) events_.Push({RelayEventRecord::Type::kBusy});
  Sync();
}

void AcceptGate::Pause(uint64_t until) {
  std::lock_guard<std::mutex> lock(mutex_);
  pausedUntil_ = std::max(pausedUntil_, until);
  Sync();
}

void AcceptGate::Resume(uint64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (now >= pausedUntil_) pausedUntil_ = 0;
  Sync();
}

bool AcceptGate::TryStop() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (open_ > 0) return false;
  stoppedByTry_ = accepting_;
  accepting_ = false;
  Sync();
  return true;
}

int AcceptGate::ResumeAfterTryStop() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!stoppedByTry_) return 0;
  stoppedByTry_ = false;
  accepting_ = true;
  int err = Sync();
  if (err != 0) accepting_ = false;
  return err;
}

void AcceptGate::StopAccepting() {
  std::lock_guard<std::mutex> lock(mutex_);
  stoppedByTry_ = false;
  accepting_ = false;
  Sync();
}

void AcceptGate::Shutdown() {
  std::lock_guard<std::mutex> lock(mutex_);
  stoppedByTry_ = false;
  accepting_ = false;
  Sync();
  epoll_ = -1;
}

uint32_t AcceptGate::open() {
  std::lock_guard<std::mutex> lock(mutex_);
  return open_;
}

int AcceptGate::Sync() {
  bool want = accepting_ && pausedUntil_ == 0 && open_ < config_.connectionsMax;
  if (want == watched_) return 0;
  if (epoll_ < 0) return 0;
  for (size_t i = 0; i < config_.listeners.size(); i++) {
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    ev.data.u64 = (static_cast<uint64_t>(i) << 2) | kListenerTag;
    int r = want ? epoll_ctl(epoll_, EPOLL_CTL_ADD, config_.listeners[i].fd, &ev)
                 : epoll_ctl(epoll_, EPOLL_CTL_DEL, config_.listeners[i].fd, nullptr);
    if (r < 0 && want && errno != EEXIST) return errno;
  }
  watched_ = want;
  return 0;
}

}  // namespace sockrelay
