#include "udp-core.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstddef>

#include "udp-batch.h"
#include "udp-pktinfo.h"

namespace sockrelay {

namespace {
// After an unexpected error on the inherited socket, rest instead of spinning on it.
constexpr uint64_t kListenPauseMs = 100;
constexpr int kEpollEvents = 64;

// epoll tags for the two fixed fds; every other tag is a UdpSession*.
char listenTag;
char wakeTag;

}  // namespace

uint64_t UdpNowMs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

UdpCore::UdpCore(UdpRelayConfig config, EventSink sink)
    : config_(std::move(config)), sink_(std::move(sink)), batch_(new UdpBatch) {}

UdpCore::~UdpCore() { Destroy(); }

int UdpCore::Init(const char** syscall) {
  int fd = config_.fd;
  auto fail = [syscall](const char* name, int err) {
    *syscall = name;
    return err;
  };
  socklen_t len = sizeof family_;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family_, &len) < 0) return fail("getsockopt", errno);
  local_.len = sizeof local_.ss;
  if (getsockname(fd, reinterpret_cast<struct sockaddr*>(&local_.ss), &local_.len) < 0) {
    return fail("getsockname", errno);
  }
  // Inherited sockets arrive blocking; one blocking recvmmsg would stall every session.
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return fail("fcntl", errno);
  if (int err = EnableUdpPktinfo(fd, family_)) return fail("setsockopt", err);
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return fail("epoll_create1", errno);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) return fail("eventfd", errno);
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.ptr = &wakeTag;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0) return fail("epoll_ctl", errno);
  ev.data.ptr = &listenTag;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) return fail("epoll_ctl", errno);
  ownsFd_ = true;
  return 0;
}

int UdpCore::Start() {
  if (started_ || destroyed_) return 0;
  // The relay thread must not take the process's signals: Node handles them on its own thread.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = pthread_create(&thread_, nullptr, ThreadMain, this);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (err == 0) started_ = true;
  return err;
}

void* UdpCore::ThreadMain(void* self) {
  pthread_setname_np(pthread_self(), "sockrelay-udp");
  static_cast<UdpCore*>(self)->Run();
  return nullptr;
}

bool UdpCore::TryStop() {
  std::lock_guard<std::mutex> lock(acceptMu_);
  if (counters_.sessionsActive.load(std::memory_order_relaxed) > 0) return false;
  StopAcceptingLocked();
  return true;
}

void UdpCore::StopAccepting() {
  std::lock_guard<std::mutex> lock(acceptMu_);
  StopAcceptingLocked();
}

void UdpCore::StopAcceptingLocked() {
  if (!accepting_) return;
  accepting_ = false;
  // Fails with ENOENT while paused after an error; either way the fd is no longer watched.
  if (epfd_ >= 0) epoll_ctl(epfd_, EPOLL_CTL_DEL, config_.fd, nullptr);
}

void UdpCore::Destroy() {
  if (destroyed_) return;
  destroyed_ = true;
  stopping_.store(true, std::memory_order_release);
  if (started_) {
    uint64_t one = 1;
    // The eventfd counter cannot overflow from one write; a failure would leave epoll_wait asleep.
    while (write(wakefd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
    pthread_join(thread_, nullptr);
  }
  sessions_.ForEach([](UdpSession* s) { close(s->fd); });
  if (ownsFd_) close(config_.fd);
  if (epfd_ >= 0) close(epfd_);
  if (wakefd_ >= 0) close(wakefd_);
  epfd_ = wakefd_ = -1;
}

void UdpCore::Run() {
  struct epoll_event ready[kEpollEvents];
  // A first round at once arms the timeout of sessions adopted before the thread started.
  int timeout = 0;
  while (!stopping_.load(std::memory_order_acquire)) {
    int n = epoll_wait(epfd_, ready, kEpollEvents, timeout);
    if (n < 0 && errno != EINTR) break;  // only EBADF/EINVAL: the epoll fd is gone
    // An export may have detached sessions named in `ready` meanwhile: they are marked dead, and
    // their memory is kept until this round's Housekeep reaps it.
    std::lock_guard<std::mutex> work(workMu_);
    uint64_t now = UdpNowMs();
    for (int i = 0; i < n; i++) {
      void* tag = ready[i].data.ptr;
      if (tag == &wakeTag) {
        uint64_t value;
        while (read(wakefd_, &value, sizeof value) < 0 && errno == EINTR) {
        }
      } else if (tag == &listenTag) {
        OnListenReadable(now);
      } else {
        OnUpstreamReadable(static_cast<UdpSession*>(tag), now);
      }
    }
    timeout = Housekeep(now);
  }
}

UdpSession* UdpCore::OpenSession(const UdpAddr& client, uint64_t now) {
  if (sessions_.size() >= config_.sessionsMax) return Drop(kDropSessionsMax), nullptr;
  int err = 0;
  const char* syscall = "";
  int family = AF_UNSPEC;
  int fd = OpenUdpUpstream(config_.backends, &family, &err, &syscall);
  if (fd < 0) {
    Drop(kDropBackendError);
    warnings_.SessionError(client, err, syscall, now);
    return nullptr;
  }
  UdpSession* s = sessions_.Insert(client, fd, now);
  s->payloadMax = UdpPayloadMax(family);
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.ptr = s;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
    err = errno;
    close(fd);
    sessions_.Remove(s);
    Drop(kDropBackendError);
    warnings_.SessionError(client, err, "epoll_ctl", now);
    return nullptr;
  }
  counters_.sessionsTotal.fetch_add(1, std::memory_order_relaxed);
  counters_.sessionsActive.store(sessions_.size(), std::memory_order_relaxed);
  if (sessions_.size() == 1) events_.push_back(UdpEvent(UdpEvent::Type::kBusy));
  return s;
}

void UdpCore::CloseSession(UdpSession* s) {
  // close() also drops the fd from the epoll set: it is the only reference to the socket.
  close(s->fd);
  sessions_.Remove(s);
  counters_.sessionsActive.store(sessions_.size(), std::memory_order_relaxed);
  if (sessions_.size() == 0) events_.push_back(UdpEvent(UdpEvent::Type::kIdle));
}

void UdpCore::PauseListen(uint64_t now) {
  // Called with acceptMu_ held.
  listenPausedUntil_ = now + kListenPauseMs;
  epoll_ctl(epfd_, EPOLL_CTL_DEL, config_.fd, nullptr);
}

void UdpCore::Drop(int reason, uint64_t count) { dropsPending_[reason] += count; }

int UdpCore::Housekeep(uint64_t now) {
  int64_t next = -1;
  auto consider = [&next](int64_t ms) {
    if (ms >= 0 && (next < 0 || ms < next)) next = ms;
  };
  if (config_.sessionTimeoutMs > 0) {
    // Bounded by the number of sessions; the oldest that is still fresh ends the sweep.
    while (UdpSession* s = sessions_.Oldest()) {
      uint64_t expires = s->lastActiveMs + config_.sessionTimeoutMs;
      if (expires > now) {
        consider(static_cast<int64_t>(expires - now));
        break;
      }
      counters_.sessionsTimedOut.fetch_add(1, std::memory_order_relaxed);
      CloseSession(s);
    }
  }
  {
    std::lock_guard<std::mutex> lock(acceptMu_);
    if (listenPausedUntil_ != 0) {
      if (now >= listenPausedUntil_) {
        listenPausedUntil_ = 0;
        if (accepting_) {
          struct epoll_event ev {};
          ev.events = EPOLLIN;
          ev.data.ptr = &listenTag;
          epoll_ctl(epfd_, EPOLL_CTL_ADD, config_.fd, &ev);
        }
      } else {
        consider(static_cast<int64_t>(listenPausedUntil_ - now));
      }
    }
  }
  for (int r = 0; r < kDropReasonCount; r++) {
    if (dropsPending_[r] == 0) continue;
    counters_.dropped[r].fetch_add(dropsPending_[r], std::memory_order_relaxed);
    warnings_.Dropped(r, dropsPending_[r], now);
    dropsPending_[r] = 0;
  }
  consider(warnings_.Flush(now, &events_));
  if (!events_.empty()) {
    sink_(std::move(events_));
    events_.clear();
  }
  sessions_.Reap();
  return next > INT_MAX ? INT_MAX : static_cast<int>(next);
}

}  // namespace sockrelay
