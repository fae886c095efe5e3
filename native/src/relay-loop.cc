#include "relay-loop.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "sockaddr.h"

namespace sockrelay {
namespace {

// epoll data: a Connection pointer (or listener index) above, what it is in the low two bits.
constexpr uint64_t kClientTag = 0;
constexpr uint64_t kBackendTag = 2;
constexpr uint64_t kWakeTag = 3;
constexpr uint64_t kTagMask = 3;
static_assert(AcceptGate::kListenerTag == 1, "listener tag must not collide");

constexpr uint64_t kAcceptPauseMs = 100;
constexpr uint64_t kBackoffFirstMs = 10;
constexpr uint64_t kBackoffMaxMs = 500;
// The last retry starts this long before the deadline, so a refusal is still told from a timeout.
constexpr uint64_t kLastTryMs = 10;
constexpr int kAcceptBatch = 64;
constexpr int kEventBatch = 64;

void SetNoDelay(int fd) {
  // A proxy must not add Nagle's delay the client never asked for; fails harmlessly on unix sockets.
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

RelayLoop::RelayLoop(const RelayConfig& config, AcceptGate& gate, EventSink& events,
                     std::vector<ListenerCounters>& counters, std::atomic<uint64_t>& nextId)
    : config_(config), gate_(gate), events_(events), counters_(counters), nextId_(nextId) {}

RelayLoop::~RelayLoop() {
  epollFd_ = SafeClose(epollFd_);
  wakeFd_ = SafeClose(wakeFd_);
}

int RelayLoop::Init(const char** syscall) {
  epollFd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epollFd_ < 0) return *syscall = "epoll_create1", errno;
  wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wakeFd_ < 0) return *syscall = "eventfd", errno;
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, wakeFd_, &ev) < 0) return *syscall = "epoll_ctl", errno;
  return 0;
}

void RelayLoop::Stop() {
  stop_ = true;
  uint64_t one = 1;
  (void)!write(wakeFd_, &one, sizeof one);
}

void RelayLoop::Run() {
  struct epoll_event events[kEventBatch];
  while (!stop_) {
    int n = epoll_wait(epollFd_, events, kEventBatch, Timeout(NowMs()));
    if (n < 0 && errno != EINTR) break;
    uint64_t now = NowMs();
    for (int i = 0; i < n; i++) {
      uint64_t data = events[i].data.u64;
      uint64_t tag = data & kTagMask;
      if (tag == AcceptGate::kListenerTag) {
        OnListener(data >> 2, now);
      } else if (tag == kWakeTag) {
        uint64_t value;
        (void)!read(wakeFd_, &value, sizeof value);
      } else {
        OnSocket(reinterpret_cast<Connection*>(data & ~kTagMask), tag == kClientTag, events[i].events, now);
      }
    }
    RunTimers(now);
    if (resumeAt_ && now >= resumeAt_) {
      resumeAt_ = 0;
      gate_.Resume(now);
    }
    flushAt_ = events_.Flush(now);
    // Freed only now: later events of this batch may still point at them.
    for (Connection* c : closed_) delete c;
    closed_.clear();
  }
  while (connections_) Finish(connections_, "destroyed", true);
  for (Connection* c : closed_) delete c;
  closed_.clear();
}

int RelayLoop::Timeout(uint64_t now) {
  uint64_t next = std::min(flushAt_, resumeAt_ ? resumeAt_ : UINT64_MAX);
  if (!timers_.empty()) next = std::min(next, timers_.begin()->first);
  if (next == UINT64_MAX) return -1;
  return next <= now ? 0 : static_cast<int>(std::min<uint64_t>(next - now, INT_MAX));
}

void RelayLoop::OnListener(size_t listener, uint64_t now) {
  for (int i = 0; i < kAcceptBatch; i++) {
    struct sockaddr_storage peer;
    socklen_t peerLen = sizeof peer;
    int fd = gate_.Accept(listener, &peer, &peerLen);
    if (fd >= 0) {
      Adopt(fd, listener, peer, peerLen, now);
      continue;
    }
    int err = -fd;
    if (err == EAGAIN) return;
    // A client that gave up while waiting in the backlog: take the next one.
    if (err == EINTR || ClassifyErrno(err) == ErrnoKind::kDisconnect) continue;
    // EMFILE, ENFILE, ENOBUFS…: the listener stays readable, so stop watching it for a while.
    resumeAt_ = now + kAcceptPauseMs;
    gate_.Pause(resumeAt_);
    RelayEventRecord event{RelayEventRecord::Type::kAcceptError};
    event.listener = static_cast<int>(listener);
    event.err = err;
    event.syscall = "accept4";
    events_.PushCoalesced(event, now);
    return;
  }
}

void RelayLoop::Adopt(int fd, size_t listener, const struct sockaddr_storage& peer, socklen_t peerLen, uint64_t now) {
  auto* c = new Connection();
  c->id = ++nextId_;
  c->acceptedUs = NowUs();
  c->listener = listener;
  c->client.fd = fd;
  c->next = connections_;
  if (connections_) connections_->prev = c;
  connections_ = c;
  counters_[listener].accepted++;
  counters_[listener].active++;
  if (config_.connectionEvents) {
    RelayEventRecord event{RelayEventRecord::Type::kOpen};
    event.listener = static_cast<int>(listener);
    event.id = c->id;
    event.peer = FormatSockaddr(peer, peerLen);
    events_.Push(std::move(event));
  }
  int err = Watch(fd, c, true);
  if (err) return Fail(c, err, "epoll_ctl", true, now);
  c->deadline = config_.connectTimeoutMs ? now + config_.connectTimeoutMs : 0;
  c->backoff = kBackoffFirstMs;
  Connect(c, now);
}

int RelayLoop::Watch(int fd, Connection* c, bool client) {
  // Edge-triggered and never modified: no epoll_ctl per chunk, the Socket flags carry the state.
  struct epoll_event ev = {};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = reinterpret_cast<uintptr_t>(c) | (client ? kClientTag : kBackendTag);
  return epoll_ctl(epollFd_, EPOLL_CTL_ADD, fd, &ev) < 0 ? errno : 0;
}

void RelayLoop::Connect(Connection* c, uint64_t now) {
  const auto& addresses = config_.backends[config_.listeners[c->listener].backend];
  while (c->address < addresses.size()) {
    const BackendAddress& a = addresses[c->address++];
    int fd = socket(a.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      c->error = errno, c->syscall = "socket";
      continue;
    }
    if (connect(fd, reinterpret_cast<const struct sockaddr*>(&a.addr), a.len) < 0 && errno != EINPROGRESS) {
      c->error = errno, c->syscall = "connect";
      SafeClose(fd);
      continue;
    }
    // Even an immediate success is reported by epoll, so both cases end in OnConnectDone.
    int err = Watch(fd, c, false);
    if (err) {
      c->error = err, c->syscall = "epoll_ctl";
      SafeClose(fd);
      continue;
    }
    c->backend.fd = fd;
    if (c->deadline) SetTimer(c, c->deadline);
    return;
  }
  if (c->deadline && now + kLastTryMs < c->deadline) {
    c->address = 0;
    SetTimer(c, std::min(now + c->backoff, c->deadline - kLastTryMs));
    c->backoff = std::min(c->backoff * 2, kBackoffMaxMs);
    return;
  }
  ConnectFailed(c, now);
}

void RelayLoop::OnSocket(Connection* c, bool client, uint32_t events, uint64_t now) {
  if (c->state == Connection::State::kClosed) return;
  if (c->state == Connection::State::kConnecting) {
    // The client's bytes wait in its socket until the backend answers; only its reset matters now.
    if (client && (events & EPOLLERR)) return Finish(c, "client-abort", false);
    if (!client && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) OnConnectDone(c, SocketError(c->backend.fd), now);
    return;
  }
  Socket& s = client ? c->client : c->backend;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s.readable = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) s.writable = true;
  if (events & EPOLLERR) {
    // Seen even when no splice would touch this side any more, e.g. a reset after its FIN.
    int err = SocketError(s.fd);
    if (err) return Fail(c, err, "splice", client, now);
  }
  Relay(c, now);
}

void RelayLoop::OnConnectDone(Connection* c, int err, uint64_t now) {
  ClearTimer(c);
  if (err == 0) return StartRelay(c, now);
  c->error = err, c->syscall = "connect";
  c->backend.fd = SafeClose(c->backend.fd);
  Connect(c, now);
}

void RelayLoop::StartRelay(Connection* c, uint64_t now) {
  int err = OpenPipes(*c, config_.pipeSize);
  if (err) return Fail(c, err, "pipe2", false, now);
  c->up.total = &counters_[c->listener].bytesIn;
  c->down.total = &counters_[c->listener].bytesOut;
  c->state = Connection::State::kRelaying;
  if (Histogram* h = counters_[c->listener].connectTime.get()) h->Observe(NowUs() - c->acceptedUs);
  SetNoDelay(c->client.fd);
  SetNoDelay(c->backend.fd);
  Relay(c, now);
}

void RelayLoop::Relay(Connection* c, uint64_t now) {
  Socket* failed = nullptr;
  int err = Shovel(c->up, c->client, c->backend, &failed);
  if (err == 0) err = Shovel(c->down, c->backend, c->client, &failed);
  if (err) return Fail(c, err, "splice", failed == &c->client, now);
  if (c->up.shut && c->down.shut) Finish(c, "done", false);
}

void RelayLoop::Fail(Connection* c, int err, const char* syscall, bool client, uint64_t now) {
  if (ClassifyErrno(err) == ErrnoKind::kDisconnect) return Finish(c, client ? "client-reset" : "backend-reset", true);
  RelayEventRecord event{RelayEventRecord::Type::kConnectionError};
  event.listener = static_cast<int>(c->listener);
  event.err = err;
  event.syscall = syscall;
  events_.PushCoalesced(event, now);
  Finish(c, "error", true);
}

void RelayLoop::ConnectFailed(Connection* c, uint64_t now) {
  ListenerCounters& k = counters_[c->listener];
  if (c->error == ECONNREFUSED || c->error == ENOENT)
    k.failedRefused++;
  else if (c->error == ETIMEDOUT)
    k.failedTimeout++;
  else
    k.failedOther++;
  RelayEventRecord event{RelayEventRecord::Type::kConnectFailed};
  event.listener = static_cast<int>(c->listener);
  event.err = c->error;
  event.syscall = c->syscall;
  events_.PushCoalesced(event, now);
  Finish(c, "connect-failed", true);
}

void RelayLoop::Finish(Connection* c, const char* reason, bool reset) {
  ClearTimer(c);
  CloseConnection(*c, reset);
  counters_[c->listener].active--;
  if (Histogram* h = counters_[c->listener].duration.get()) h->Observe(NowUs() - c->acceptedUs);
  if (config_.connectionEvents) {
    RelayEventRecord event{RelayEventRecord::Type::kClose};
    event.listener = static_cast<int>(c->listener);
    event.id = c->id;
    event.bytesIn = c->up.bytes;
    event.bytesOut = c->down.bytes;
    event.reason = reason;
    events_.Push(std::move(event));
  }
  if (c->prev) c->prev->next = c->next;
  else connections_ = c->next;
  if (c->next) c->next->prev = c->prev;
  c->state = Connection::State::kClosed;
  closed_.push_back(c);
  gate_.Release();
}

void RelayLoop::SetTimer(Connection* c, uint64_t at) {
  ClearTimer(c);
  c->timer = timers_.emplace(at, c);
  c->timed = true;
}

void RelayLoop::ClearTimer(Connection* c) {
  if (!c->timed) return;
  timers_.erase(c->timer);
  c->timed = false;
}

void RelayLoop::RunTimers(uint64_t now) {
  while (!timers_.empty() && timers_.begin()->first <= now) {
    Connection* c = timers_.begin()->second;
    ClearTimer(c);
    if (c->backend.fd < 0) {
      Connect(c, now);
      continue;
    }
    // A connect that never answers (a black hole) is cut at the deadline.
    c->error = ETIMEDOUT, c->syscall = "connect";
    c->backend.fd = SafeClose(c->backend.fd);
    ConnectFailed(c, now);
  }
}

}  // namespace sockrelay
