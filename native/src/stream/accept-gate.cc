#include "stream/accept-gate.h"

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>

#include "core/clock.h"

namespace sockrelay {

AcceptGate::AcceptGate(const RelayConfig& config, EventSink& events, SourceTable* sources)
    : config_(config), events_(events), sources_(sources) {}

void AcceptGate::AddLoop(int epollFd) {
  std::lock_guard<std::mutex> lock(mutex_);
  epolls_.push_back(epollFd);
}

int AcceptGate::Open() {
  std::lock_guard<std::mutex> lock(mutex_);
  accepting_ = true;
  int err = Sync();
  if (err == 0) return 0;
  accepting_ = false;
  for (int epollFd : epolls_)
    for (const auto& listener : config_.listeners) epoll_ctl(epollFd, EPOLL_CTL_DEL, listener.fd, nullptr);
  return err;
}

UniqueFd AcceptGate::Accept(size_t listener, SockAddr* peer, int* err, SourceTicket* source,
                            SourceVerdict* verdict) {
  std::lock_guard<std::mutex> lock(mutex_);
  *verdict = SourceVerdict::kAdmitted;
  if (!watched_) return *err = EAGAIN, UniqueFd();
  peer->len = sizeof peer->ss;
  UniqueFd fd(accept4(config_.listeners[listener].fd, peer->get(), &peer->len, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (!fd) return *err = errno, UniqueFd();
  // Before the count: a refused client never holds a slot, never flips busy/idle.
  if (sources_ && (*verdict = sources_->Admit(*peer, NowMs(), source)) != SourceVerdict::kAdmitted) return fd;
  if (++open_ == 1) events_.Push({RelayEventRecord::Type::kBusy});
  if (open_ >= config_.connectionsMax) Sync();
  return fd;
}

void AcceptGate::Release(SourceTicket* source) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (sources_ && source) sources_->Release(source);
  if (--open_ == 0) events_.Push({RelayEventRecord::Type::kIdle});
  Sync();
}

void AcceptGate::AddOpen() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (++open_ == 1) events_.Push({RelayEventRecord::Type::kBusy});
  Sync();
}

void AcceptGate::CountSource(const SockAddr& peer, SourceTicket* source) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (sources_) sources_->Add(peer, NowMs(), source);
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
  epolls_.clear();
}

uint32_t AcceptGate::open() {
  std::lock_guard<std::mutex> lock(mutex_);
  return open_;
}

int AcceptGate::Sync() {
  bool want = accepting_ && pausedUntil_ == 0 && open_ < config_.connectionsMax;
  if (want == watched_) return 0;
  // Several loops share a listener: EPOLLEXCLUSIVE wakes one of them per connection, not all.
  uint32_t events = epolls_.size() > 1 ? EPOLLIN | EPOLLEXCLUSIVE : EPOLLIN;
  for (int epollFd : epolls_) {
    for (size_t i = 0; i < config_.listeners.size(); i++) {
      struct epoll_event ev = {};
      ev.events = events;
      ev.data.u64 = (static_cast<uint64_t>(i) << 2) | kListenerTag;
      int r = want ? epoll_ctl(epollFd, EPOLL_CTL_ADD, config_.listeners[i].fd, &ev)
                   : epoll_ctl(epollFd, EPOLL_CTL_DEL, config_.listeners[i].fd, nullptr);
      if (r < 0 && want && errno != EEXIST) return errno;
    }
  }
  watched_ = want;
  return 0;
}

}  // namespace sockrelay
