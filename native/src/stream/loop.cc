#include "stream/loop.h"

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <climits>

#include "core/address.h"
#include "core/clock.h"
#include "core/close-reason.h"
#include "core/errno-kind.h"
#include "core/proxy-header.h"
#include "stream/tune-socket.h"

namespace sockrelay {
namespace {

// epoll data: a Connection pointer (or listener index) above, what it is in the low two bits.
constexpr uint64_t kClientTag = 0;
constexpr uint64_t kBackendTag = 2;
// An Attempt of stream/connection.h, not a Connection.
constexpr uint64_t kAttemptTag = 3;
constexpr uint64_t kTagMask = 3;
static_assert(RelayLoop::kListenerTag == 1, "listener tag must not collide");

constexpr uint64_t kAcceptPauseMs = 100;
constexpr int kAcceptBatch = 64;
constexpr int kEventBatch = 64;
// Idle connections are looked for four times per timeout, at most once a second: a connection
// lives at most a quarter (or a second) past its timeout, and no clock is read per chunk.
constexpr uint64_t kSweepMaxMs = 1000;
// Input: what Rewatch turns off while a socket's flow waits on its destination. Errors and hang-ups
// are always reported, so a reset still ends the connection at once.
constexpr uint32_t kInputEvents = EPOLLIN | EPOLLPRI | EPOLLRDHUP;
constexpr uint32_t kSocketEvents = kInputEvents | EPOLLOUT | EPOLLET;
// Empty pipes the loop keeps for its next busy flows; more are closed.
constexpr size_t kPipesKept = 8;

}  // namespace

RelayLoop::RelayLoop(const RelayConfig& config, const BackendTable& backends, StopGate& gate, SourceTable* sources,
                     RelayEventSink& events, std::vector<ListenerCounters>& counters, std::atomic<uint64_t>& nextId,
                     ConnectionExport& exports)
    : config_(config),
      backends_(backends),
      gate_(gate),
      sources_(sources),
      events_(events),
      counters_(counters),
      nextId_(nextId),
      pipes_(config.pipesMax, std::min<size_t>(config.pipesMax, kPipesKept), config.pipeSize),
      exports_(exports) {
  if (config_.idleTimeoutMs) sweepEveryMs_ = std::max<uint64_t>(1, std::min(config_.idleTimeoutMs / 4, kSweepMaxMs));
}

RelayLoop::~RelayLoop() {
  // Adopted connections of a loop whose thread never ran.
  CloseHanded(adopted_, true);
  clients_.clear();
}

int RelayLoop::Init(const char** syscall) { return loop_.Init(syscall); }

void RelayLoop::Stop() {
  stop_ = true;
  loop_.Wake();
}

void RelayLoop::Run() {
  struct epoll_event events[kEventBatch];
  StartAdopted(NowMs());
  AdmitClients(NowMs());
  while (!stop_) {
    int timeout = Timeout(NowMs());
    int n = timeout == 0 ? 0 : Spin(events, spin_.Next(roundBytes_));
    roundBytes_ = 0;
    // A Stop() or export request whose wake-up the polling took is seen here, not slept through.
    if (n == 0 && !stop_ && !exports_.requested()) n = loop_.Wait(events, kEventBatch, timeout);
    if (n < 0) break;
    uint64_t now = NowMs();
    for (int i = 0; i < n; i++) {
      uint64_t data = events[i].data.u64;
      uint64_t tag = data & kTagMask;
      if (tag == kListenerTag) {
        OnListener(data >> 2, now);
      } else if (tag == kAttemptTag) {
        OnAttempt(reinterpret_cast<Attempt*>(data & ~kTagMask), events[i].events, now);
      } else {
        OnSocket(reinterpret_cast<Connection*>(data & ~kTagMask), tag == kClientTag, events[i].events, now);
      }
    }
    RunTimers(now);
    if (resumeAt_ && now >= resumeAt_) {
      resumeAt_ = 0;
      gate_.Resume(now);
    }
    if (sweepEveryMs_ && now >= sweepAt_) {
      SweepIdle(now);
      sweepAt_ = now + sweepEveryMs_;
    }
    if (exports_.requested()) BeginExport(now);
    if (export_ && (exporting_ == 0 || now >= exportDeadline_)) EndExport(now);
    flushAt_ = events_.Flush(now);
    // Freed only now: later events of this batch may still point at them.
    for (Connection* c : closed_) delete c;
    closed_.clear();
  }
  while (connections_) Finish(connections_, close_reason::kShutdown, true);
  // An export under way, or asked for too late, still completes: with what was detached so far.
  if (exports_.requested()) BeginExport(NowMs());
  if (export_) EndExport(NowMs());
  for (Connection* c : closed_) delete c;
  closed_.clear();
}

int RelayLoop::Spin(struct epoll_event* events, uint32_t us) {
  if (us == 0) return 0;
  uint64_t until = NowUs() + us;
  do {
    int n = loop_.Wait(events, kEventBatch, 0);
    if (n != 0) {
      if (n > 0) spin_.Hit();
      return n;
    }
  } while (NowUs() < until && !stop_ && !exports_.requested());
  spin_.Miss();
  return 0;
}

int RelayLoop::Timeout(uint64_t now) {
  uint64_t next = std::min(flushAt_, resumeAt_ ? resumeAt_ : UINT64_MAX);
  if (!timers_.empty()) next = std::min(next, timers_.begin()->first);
  if (sweepEveryMs_ && connections_) next = std::min(next, sweepAt_);
  if (export_) next = std::min(next, exportDeadline_);
  if (next == UINT64_MAX) return -1;
  return next <= now ? 0 : static_cast<int>(std::min<uint64_t>(next - now, INT_MAX));
}

void RelayLoop::OnListener(size_t listener, uint64_t now) {
  for (int i = 0; i < kAcceptBatch; i++) {
    SockAddr peer;
    int err = EAGAIN;
    UniqueFd fd;
    SourceTicket source;
    SourceVerdict verdict = SourceVerdict::kAdmitted;
    gate_.Admit([&] {
      peer.len = sizeof peer.ss;
      fd.reset(accept4(config_.listeners[listener].fd.get(), peer.get(), &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd) {
        err = errno;
        return;
      }
      // Before the count: a refused client never holds a slot, never flips busy/idle.
      if (sources_) verdict = sources_->Admit(peer, now, &source);
      if (verdict == SourceVerdict::kAdmitted) gate_.AddOpen();
    });
    if (fd && verdict != SourceVerdict::kAdmitted) {
      Refuse(std::move(fd), listener, peer, verdict, now);
      continue;
    }
    if (fd) {
      Admit(std::move(fd), listener, peer, now, source);
      continue;
    }
    if (err == EAGAIN) return;
    // A client that gave up while waiting in the backlog: take the next one.
    if (IsTransient(err) || IsDisconnect(err)) continue;
    // EMFILE, ENFILE, ENOBUFS…: the listener stays readable, so stop watching it for a while.
    resumeAt_ = now + kAcceptPauseMs;
    gate_.Pause(resumeAt_);
    RelayEventRecord event{RelayEventRecord::Type::kAcceptError};
    event.listener = static_cast<int>(listener);
    event.err = err;
    event.syscall = "accept4";
    PushCoalesced(events_, event, now);
    return;
  }
}

Connection* RelayLoop::Link(size_t listener) {
  // Owned by the intrusive list from here; Unlink() hands it to closed_, which deletes it.
  auto* c = new Connection();
  c->id = ++nextId_;
  c->acceptedUs = NowUs();
  c->listener = listener;
  c->next = connections_;
  if (connections_) connections_->prev = c;
  connections_ = c;
  return c;
}

void RelayLoop::Admit(UniqueFd fd, size_t listener, const SockAddr& peer, uint64_t now, SourceTicket source) {
  Connection* c = Link(listener);
  c->client.fd = std::move(fd);
  c->source = source;
  c->deadline = config_.connectTimeoutMs ? now + config_.connectTimeoutMs : 0;
  counters_[listener].accepted++;
  counters_[listener].active++;
  Open(c, peer, now);
}

void RelayLoop::Open(Connection* c, const SockAddr& peer, uint64_t now) {
  size_t listener = c->listener;
  if (config_.connectionEvents) {
    RelayEventRecord event{RelayEventRecord::Type::kOpen};
    event.listener = static_cast<int>(listener);
    event.id = c->id;
    event.peer = FormatAddress(peer);
    events_.Push(std::move(event));
  }
  if (int version = config_.listeners[listener].proxyProtocol) {
    // Built now, while the client's address is sure to be known; a failed getsockname is an
    // unknown destination, which the header has a form for.
    SockAddr local;
    local.len = sizeof local.ss;
    if (getsockname(c->client.fd.get(), local.get(), &local.len) < 0) local.len = 0;
    unsigned char header[kProxyHeaderMax];
    size_t n = BuildProxyHeader(version, Transport::kStream, peer, local, header);
    c->header.assign(reinterpret_cast<const char*>(header), n);
  }
  int err = Watch(c->client.fd.get(), c, true);
  if (err) return Fail(c, err, "epoll_ctl", true, now);
  Connect(c, now);
}

int RelayLoop::Watch(int fd, Connection* c, bool client) {
  // Edge-triggered: no epoll_ctl per chunk, the Socket flags carry the state. Modified only when a
  // flow starts or stops waiting on its destination (Rewatch).
  // EPOLLPRI: urgent data, where splice stops (Shovel).
  return loop_.Add(fd, kSocketEvents, reinterpret_cast<uintptr_t>(c) | (client ? kClientTag : kBackendTag));
}

int RelayLoop::WatchAttempt(Attempt* a) {
  static_assert(alignof(Attempt) > kTagMask, "the tag must fit under the pointer");
  return loop_.Add(a->fd.get(), kSocketEvents, reinterpret_cast<uintptr_t>(a) | kAttemptTag);
}

void RelayLoop::OnAttempt(Attempt* a, uint32_t events, uint64_t now) {
  Connection* c = a->owner;
  if (c->state == Connection::State::kConnecting) {
    // An attempt closed earlier in this batch has nothing left to say.
    // The backend may have sent urgent data as soon as it accepted: this is its only event for it.
    if (events & EPOLLPRI) c->backend.urgent = true;
    if (a->fd && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) OnConnectDone(c, a, SocketError(a->fd.get()), now);
    return;
  }
  // The winner's events, or a loser's from before it was closed (harmless: flags only say "try").
  OnSocket(c, false, events, now);
}

void RelayLoop::OnSocket(Connection* c, bool client, uint32_t events, uint64_t now) {
  if (c->state == Connection::State::kClosed) return;
  if (c->state == Connection::State::kConnecting) {
    // The client's bytes wait in its socket until the backend answers; only its reset matters now.
    if (client && (events & EPOLLERR)) return Finish(c, close_reason::kResetByClient, false);
    if (client && (events & EPOLLPRI)) c->client.urgent = true;
    return;
  }
  Socket& s = client ? c->client : c->backend;
  if (events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s.readable = true;
  if (events & EPOLLPRI) s.urgent = true;
  if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) s.writable = true;
  if (events & EPOLLERR) {
    // Seen even when no splice would touch this side any more, e.g. a reset after its FIN.
    int err = SocketError(s.fd.get());
    if (err) return Fail(c, err, "splice", client, now);
  }
  Relay(c, now);
}

void RelayLoop::StartRelay(Connection* c, uint64_t now) {
  UsePipes(*c, &pipes_);
  c->up.total = &counters_[c->listener].bytesIn;
  c->down.total = &counters_[c->listener].bytesOut;
  c->state = Connection::State::kRelaying;
  c->lastActive = now;
  if (Histogram* h = counters_[c->listener].connectTime.get()) h->Observe(NowUs() - c->acceptedUs);
  TuneSocket(c->client.fd.get(), config_.keepaliveMs);
  TuneSocket(c->backend.fd.get(), config_.keepaliveMs);
  Relay(c, now);
}

void RelayLoop::Relay(Connection* c, uint64_t now) {
  Socket* failed = nullptr;
  bool moved = false;
  int err = 0;
  // The header goes first, alone: client bytes wait in their socket until all of it is sent.
  if (c->headerSent < c->header.size()) {
    err = SendHeader(*c);
    if (err) return Fail(c, err, "send", false, now);
  }
  uint64_t before = c->up.bytes + c->down.bytes;
  if (c->headerSent == c->header.size()) err = Shovel(c->up, c->client, c->backend, &failed, &moved);
  if (err == 0) err = Shovel(c->down, c->backend, c->client, &failed, &moved);
  roundBytes_ += c->up.bytes + c->down.bytes - before;
  if (err) return Fail(c, err, "splice", failed == &c->client, now);
  if (moved) c->lastActive = now;
  if (c->up.shut && c->down.shut) return Finish(c, close_reason::kEof, false);
  if (c->exporting && Flushed(*c)) return Detach(c, now);
  err = Rewatch(c, true);
  if (err == 0) err = Rewatch(c, false);
  if (err) return Fail(c, err, "epoll_ctl", false, now);
}

int RelayLoop::Rewatch(Connection* c, bool client) {
  Socket& s = client ? c->client : c->backend;
  // Each segment that comes for a flow waiting on its destination would wake the loop for nothing:
  // its input is not watched until the destination takes bytes again. Nor is its output then,
  // unless a write waits on it (the mask change would report it writable, again for nothing).
  bool input = client ? !WaitsOnDestination(c->up, c->backend) : !WaitsOnDestination(c->down, c->client);
  bool output = input || !s.writable;
  if (input == s.watchingInput && output == s.watchingOutput) return 0;
  // What came while it was not watched is reported now (EPOLL_CTL_MOD polls the socket), urgent data
  // included. A backend still registered under its Attempt's tag takes its own tag here.
  uint32_t events = EPOLLET | (input ? kInputEvents : 0u) | (output ? static_cast<uint32_t>(EPOLLOUT) : 0u);
  int err = loop_.Modify(s.fd.get(), events, reinterpret_cast<uintptr_t>(c) | (client ? kClientTag : kBackendTag));
  if (err) return err;
  s.watchingInput = input;
  s.watchingOutput = output;
  return 0;
}

void RelayLoop::SweepIdle(uint64_t now) {
  for (Connection *c = connections_, *next; c; c = next) {
    next = c->next;
    if (c->state == Connection::State::kRelaying && !c->exporting && now - c->lastActive >= config_.idleTimeoutMs)
      Finish(c, close_reason::kIdleTimeout, false);
  }
}

void RelayLoop::Fail(Connection* c, int err, const char* syscall, bool client, uint64_t now) {
  if (IsDisconnect(err)) return Finish(c, client ? close_reason::kResetByClient : close_reason::kResetByBackend, true);
  // Reported once the connection is closed and uncounted, as ConnectFailed does.
  Finish(c, close_reason::kError, true);
  RelayEventRecord event{RelayEventRecord::Type::kConnectionError};
  event.listener = static_cast<int>(c->listener);
  event.err = err;
  event.syscall = syscall;
  PushCoalesced(events_, event, now);
}

void RelayLoop::Finish(Connection* c, const char* reason, bool reset) {
  if (c->adopted) UnwatchAdopted(*c, reset);
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
    event.durationUs = NowUs() - c->acceptedUs;
    events_.Push(std::move(event));
  }
  Unlink(c);
}

void RelayLoop::Unlink(Connection* c) {
  ClearTimer(c);
  if (c->exporting) exporting_--;
  if (c->prev) c->prev->next = c->next;
  else connections_ = c->next;
  if (c->next) c->next->prev = c->prev;
  c->state = Connection::State::kClosed;
  closed_.push_back(c);
  if (sources_) sources_->Release(&c->source);
  gate_.Release();
}

}  // namespace sockrelay
