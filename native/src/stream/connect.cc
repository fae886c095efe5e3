// RelayLoop: connecting to the backend, racing its addresses the way Happy Eyeballs (RFC 8305)
// does, retrying with backoff until the deadline; and the per-connection timers that drive the
// attempts, the retries and the deadline.
//
// One address is tried at a time while it answers quickly: a refusal moves on at once. An attempt
// still pending after kAttemptDelayMs no longer holds the next one back, so a black-holed address
// costs that delay, not the whole connect timeout. The first attempt to connect wins, the others
// are closed. The order of the addresses is the caller's (src/backend/resolve.ts interleaves the
// families).
//
// On a transparent listener every attempt is bound to the client's address and port first
// (core/transparent.h); addresses of the other family are skipped, and what cannot work on any retry
// (no address of the client's family, a refused bind) fails the connection at once.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "core/close-reason.h"
#include "core/transparent.h"
#include "stream/loop.h"

namespace sockrelay {
namespace {

constexpr uint64_t kBackoffFirstMs = 10;
constexpr uint64_t kBackoffMaxMs = 500;
// The last retry starts this long before the deadline, so a refusal is still told from a timeout.
constexpr uint64_t kLastTryMs = 10;
// RFC 8305's "Connection Attempt Delay": 250 ms recommended, 100 ms at least.
constexpr uint64_t kAttemptDelayMs = 250;

}  // namespace

const BackendTable::Addresses& RelayLoop::BackendOf(const Connection* c) {
  if (backends_.version() != backendsVersion_) backendsVersion_ = backends_.Read(&backendLists_);
  return *backendLists_[config_.listeners[c->listener].backend];
}

bool RelayLoop::StartAttempt(Connection* c, const SockAddr& a, const SockAddr* client) {
  SockAddr source;
  // An address of a family that cannot keep the client's: skipped, as if it was not in the list.
  if (client && !TransparentSource(*client, a, &source)) return true;
  UniqueFd fd(socket(a.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    c->error = errno, c->syscall = "socket";
    return true;
  }
  // Refused (EADDRINUSE: a client on this very host holds its own address and port; EPERM: the
  // capability is gone), it is refused towards every address and on every retry.
  if (client) {
    const char* syscall = "";
    if (int err = BindTransparent(fd.get(), source, true, &syscall)) {
      c->error = err, c->syscall = syscall;
      return false;
    }
  }
  // Nonblocking even for a unix backend whose backlog is full (EAGAIN): this thread never waits.
  if (connect(fd.get(), a.get(), a.len) < 0 && errno != EINPROGRESS) {
    c->error = errno, c->syscall = "connect";
    return true;
  }
  Attempt* slot = std::find_if(std::begin(c->attempts), std::end(c->attempts), [](const Attempt& x) { return !x.fd; });
  slot->owner = c;
  slot->fd = std::move(fd);
  // Even an immediate success is reported by epoll, so both cases end in OnConnectDone.
  int err = WatchAttempt(slot);
  if (err) {
    c->error = err, c->syscall = "epoll_ctl";
    slot->fd.Close();
    return true;
  }
  c->racing++;
  return true;
}

bool RelayLoop::TransparentClient(Connection* c, const BackendTable::Addresses& addresses, SockAddr* client) {
  client->len = sizeof client->ss;
  // Asked again each time rather than kept: a connection carries no address it does not need.
  if (getpeername(c->client.fd.get(), client->get(), &client->len) < 0) {
    c->error = errno, c->syscall = "getpeername";
    return false;
  }
  SockAddr source;
  for (const SockAddr& a : addresses)
    if (TransparentSource(*client, a, &source)) return true;
  c->error = EAFNOSUPPORT, c->syscall = "bind";
  return false;
}

void RelayLoop::Connect(Connection* c, uint64_t now) {
  if (c->backoff == 0) c->backoff = kBackoffFirstMs;
  const auto& addresses = BackendOf(c);
  SockAddr client;
  bool transparent = config_.listeners[c->listener].transparent;
  if (transparent && !TransparentClient(c, addresses, &client)) return GiveUp(c, now);
  // Starts the next address (skipping those that fail at once), unless the slots are all racing.
  size_t racing = c->racing;
  while (c->racing == racing && racing < kAttemptsMax && c->address < addresses.size()) {
    if (!StartAttempt(c, addresses[c->address++], transparent ? &client : nullptr)) return GiveUp(c, now);
  }
  if (c->racing > 0) {
    // The next address joins the race after the delay; the last one waits for the deadline.
    uint64_t at = c->address < addresses.size() && c->racing < kAttemptsMax ? now + kAttemptDelayMs : UINT64_MAX;
    // An attempt started at or past the deadline (the loop ran late) still gets a round to answer.
    if (c->deadline) at = std::min(at, std::max(c->deadline, now + 1));
    if (at == UINT64_MAX) return ClearTimer(c);
    return SetTimer(c, at);
  }
  if (c->deadline && now + kLastTryMs < c->deadline) {
    c->address = 0;
    SetTimer(c, std::min(now + c->backoff, c->deadline - kLastTryMs));
    c->backoff = std::min(c->backoff * 2, kBackoffMaxMs);
    return;
  }
  ConnectFailed(c, now);
}

void RelayLoop::OnConnectDone(Connection* c, Attempt* a, int err, uint64_t now) {
  if (err == 0) {
    // The winner; the losers are closed before their SYNs are answered (or retried).
    c->backend.fd = std::move(a->fd);
    CloseAttempts(c);
    ClearTimer(c);
    return StartRelay(c, now);
  }
  c->error = err, c->syscall = "connect";
  a->fd.Close();
  c->racing--;
  // A refusal starts the next address now; with none left, the others still racing may win.
  if (c->racing == 0 || c->address < BackendOf(c).size()) Connect(c, now);
}

void RelayLoop::GiveUp(Connection* c, uint64_t now) {
  CloseAttempts(c);
  ClearTimer(c);
  ConnectFailed(c, now);
}

void RelayLoop::CloseAttempts(Connection* c) {
  for (Attempt& a : c->attempts) a.fd.Close();
  c->racing = 0;
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
  // Counted as failed before the client sees the reset, reported once the connection no longer
  // counts as open: whoever hears of the failure finds the engine idle if it was the last one.
  Finish(c, close_reason::kConnectFailed, true);
  PushCoalesced(events_, event, now);
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
    if (c->racing == 0 || !c->deadline || now < c->deadline) {
      // A retry after backoff, or the next address joining the race.
      Connect(c, now);
      continue;
    }
    // Connects that never answer (black holes) are cut at the deadline.
    c->error = ETIMEDOUT, c->syscall = "connect";
    CloseAttempts(c);
    ConnectFailed(c, now);
  }
}

}  // namespace sockrelay
