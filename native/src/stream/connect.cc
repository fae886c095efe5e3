// RelayLoop: connecting to the backend, every address in turn, retrying with backoff until the
// deadline; and the per-connection timers that drive the retries and the deadline.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "stream/loop.h"

namespace sockrelay {
namespace {

constexpr uint64_t kBackoffFirstMs = 10;
constexpr uint64_t kBackoffMaxMs = 500;
// The last retry starts this long before the deadline, so a refusal is still told from a timeout.
constexpr uint64_t kLastTryMs = 10;

}  // namespace

void RelayLoop::Connect(Connection* c, uint64_t now) {
  if (c->backoff == 0) {
    c->deadline = config_.connectTimeoutMs ? now + config_.connectTimeoutMs : 0;
    c->backoff = kBackoffFirstMs;
  }
  const auto& addresses = config_.backends[config_.listeners[c->listener].backend];
  while (c->address < addresses.size()) {
    const SockAddr& a = addresses[c->address++];
    UniqueFd fd(socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) {
      c->error = errno, c->syscall = "socket";
      continue;
    }
    // Nonblocking even for a unix backend whose backlog is full (EAGAIN): this thread never waits.
    if (connect(fd.get(), a.get(), a.len) < 0 && errno != EINPROGRESS) {
      c->error = errno, c->syscall = "connect";
      continue;
    }
    // Even an immediate success is reported by epoll, so both cases end in OnConnectDone.
    int err = Watch(fd.get(), c, false);
    if (err) {
      c->error = err, c->syscall = "epoll_ctl";
      continue;
    }
    c->backend.fd = std::move(fd);
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

void RelayLoop::OnConnectDone(Connection* c, int err, uint64_t now) {
  ClearTimer(c);
  if (err == 0) return StartRelay(c, now);
  c->error = err, c->syscall = "connect";
  c->backend.fd.Close();
  Connect(c, now);
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
    if (!c->backend.fd) {
      Connect(c, now);
      continue;
    }
    // A connect that never answers (a black hole) is cut at the deadline.
    c->error = ETIMEDOUT, c->syscall = "connect";
    c->backend.fd.Close();
    ConnectFailed(c, now);
  }
}

}  // namespace sockrelay
