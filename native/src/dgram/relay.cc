#include "core/fd-flags.h"
#include "dgram/relay.h"

#include <fcntl.h>
#include <sys/epoll.h>

#include <cerrno>
#include <climits>
#include <cstddef>

#include "core/clock.h"
#include "core/close-reason.h"
#include "core/errno-kind.h"
#include "dgram/batch.h"
#include "dgram/pktinfo.h"

namespace sockrelay {

namespace {
constexpr int kEpollEvents = 64;

// The epoll tag of the inherited socket; every other tag is a UdpSession*.
constexpr uint64_t kListenTag = 1;

uint64_t SessionTag(UdpSession* s) { return reinterpret_cast<uintptr_t>(s); }

}  // namespace

UdpCore::UdpCore(UdpRelayConfig config)
    : config_(std::move(config)),
      // sessionsMax does not close the gate: a new client's datagrams are read, dropped and counted.
      gate_(UINT32_MAX, [this](bool on) { return WatchSocket(on); },
            [this](bool busy) { events_.Push(UdpEvent(busy ? UdpEvent::Type::kBusy : UdpEvent::Type::kIdle)); }),
      batch_(new UdpBatch),
      sources_(config_.sources.enabled()
                   ? std::make_unique<SourceTable>(config_.sources, SourceTableSize(config_.sessionsMax))
                   : nullptr),
      loopGuard_(config_.backends) {
  sessions_.CountSourcesIn(sources_.get());
}

UdpCore::~UdpCore() { Shutdown(); }

int UdpCore::WatchSocket(bool on) {
  if (!on) return loop_.Remove(config_.fd), 0;
  int err = loop_.Add(config_.fd, EPOLLIN, kListenTag);
  return err == EEXIST ? 0 : err;
}

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
  if (int err = SetNonblock(fd)) return fail("fcntl", err);
  if (int err = EnableUdpPktinfo(fd, family_)) return fail("setsockopt", err);
  if (int err = loop_.Init(syscall)) return err;
  if (int err = gate_.Open()) return fail("epoll_ctl", err);
  socket_.reset(fd);
  return 0;
}

int UdpCore::Start() {
  if (destroyed_) return 0;
  return thread_.Start("sockrelay-udp", ThreadMain, this);
}

void UdpCore::ThreadMain(void* self) { static_cast<UdpCore*>(self)->Run(); }

void UdpCore::Shutdown() {
  if (destroyed_) return;
  destroyed_ = true;
  events_.Close();
  gate_.Shutdown();
  stopping_.store(true, std::memory_order_release);
  if (thread_.running()) {
    loop_.Wake();
    thread_.Join();
  }
  sessions_.Clear();
  counters_.sessionsActive.store(0, std::memory_order_relaxed);
  socket_.Close();
  // Kept after destroy() for its counters: nothing of the kernel's is held meanwhile.
  loop_.Close();
}

void UdpCore::Run() {
  struct epoll_event ready[kEpollEvents];
  // A first round at once arms the timeout of sessions adopted before the thread started.
  int timeout = 0;
  while (!stopping_.load(std::memory_order_acquire)) {
    int n = loop_.Wait(ready, kEpollEvents, timeout);
    if (n < 0) break;  // only EBADF/EINVAL: the epoll fd is gone
    uint64_t now = NowMs();
    for (int i = 0; i < n; i++) {
      uint64_t tag = ready[i].data.u64;
      if (tag == kListenTag) {
        OnListenReadable(now);
      } else {
        OnUpstreamReadable(reinterpret_cast<UdpSession*>(static_cast<uintptr_t>(tag)), now);
      }
    }
    // After the round's events, so that what they made of the sessions travels; sessions detached
    // now are reaped by Housekeep, which also delivers the failure events of the export.
    if (exports_.requested()) exports_.Take()->Complete(DetachSessions());
    timeout = Housekeep(now);
  }
  // Asked for as the relay stopped: it still completes, with nothing left to detach.
  if (exports_.requested()) exports_.Take()->Complete({});
}

UdpSession* UdpCore::OpenSession(const SockAddr& client, uint64_t now) {
  if (sessions_.size() >= config_.sessionsMax) return Drop(kDropSessionsMax), nullptr;
  SourceTicket source;
  if (sources_) {
    SourceVerdict verdict = sources_->Admit(client, now, &source);
    if (verdict != SourceVerdict::kAdmitted) {
      int reason = verdict == SourceVerdict::kOverRate ? kDropPerSourceRate : kDropPerSource;
      refused_[reason] = client;
      return Drop(reason), nullptr;
    }
  }
  int err = 0;
  const char* syscall = "";
  int family = AF_UNSPEC;
  UniqueFd fd = OpenUdpUpstream(config_.backends, config_.transparent ? &client : nullptr, &family, &err, &syscall);
  if (!fd) {
    if (sources_) sources_->Release(&source);
    Drop(kDropBackendError);
    warnings_.SessionError(client, err, syscall, now);
    return nullptr;
  }
  UdpSession* s = sessions_.Insert(client, std::move(fd), now);
  s->source = source;
  s->payloadMax = UdpPayloadMax(family);
  if ((err = loop_.Add(s->fd.get(), EPOLLIN, SessionTag(s)))) {
    sessions_.Remove(s);
    Drop(kDropBackendError);
    warnings_.SessionError(client, err, "epoll_ctl", now);
    return nullptr;
  }
  counters_.sessionsTotal.fetch_add(1, std::memory_order_relaxed);
  counters_.sessionsActive.store(sessions_.size(), std::memory_order_relaxed);
  gate_.AddOpen();
  return s;
}

void UdpCore::CloseSession(UdpSession* s, const char* ending) {
  if (config_.sessionEvents) {
    UdpEvent event(UdpEvent::Type::kSessionClosed);
    event.client = FormatAddress(s->client);
    event.bytesIn = s->bytesIn;
    event.bytesOut = s->bytesOut;
    event.durationMs = NowMs() - s->openedMs;
    event.ending = ending;
    events_.Push(std::move(event));
  }
  // Closing also drops the fd from the epoll set: it is the only reference to the socket.
  sessions_.Remove(s);
  counters_.sessionsActive.store(sessions_.size(), std::memory_order_relaxed);
  gate_.Release();
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
      CloseSession(s, close_reason::kIdleTimeout);
    }
  }
  if (uint64_t pausedUntil = gate_.pausedUntil()) {
    if (now >= pausedUntil) gate_.Resume(now);
    else consider(static_cast<int64_t>(pausedUntil - now));
  }
  for (int r = 0; r < kDropReasonCount; r++) {
    if (dropsPending_[r] == 0) continue;
    counters_.dropped[r].fetch_add(dropsPending_[r], std::memory_order_relaxed);
    bool perSource = r == kDropPerSource || r == kDropPerSourceRate;
    warnings_.Dropped(r, dropsPending_[r], now, perSource ? SourceTable::Describe(config_.sources, refused_[r]) : "");
    dropsPending_[r] = 0;
  }
  uint64_t flushAt = events_.Flush(now);
  if (flushAt != UINT64_MAX) consider(static_cast<int64_t>(flushAt > now ? flushAt - now : 0));
  sessions_.Reap();
  return next > INT_MAX ? INT_MAX : static_cast<int>(next);
}

}  // namespace sockrelay
