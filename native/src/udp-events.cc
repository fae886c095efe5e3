#include "udp-events.h"

#include "sockaddr.h"

namespace sockrelay {

const char* UdpDropReasonName(int reason) {
  switch (reason) {
    case kDropSessionsMax: return "sessions-max";
    case kDropBackendError: return "backend-error";
    case kDropUnboundClient: return "unbound-client";
    case kDropTruncated: return "truncated";
    case kDropSendFailed: return "send-failed";
    case kDropTooLarge: return "too-large";
    default: return "unknown";
  }
}

namespace {
bool IsTransition(const UdpEvent& e) {
  return e.type == UdpEvent::Type::kBusy || e.type == UdpEvent::Type::kIdle;
}
}  // namespace

void AppendUdpEvents(std::vector<UdpEvent>* pending, std::vector<UdpEvent>&& events) {
  for (UdpEvent& e : events) {
    size_t n = pending->size();
    // Transitions alternate, so [e, !e] followed by e is just e.
    if (IsTransition(e) && n >= 2 && IsTransition((*pending)[n - 1]) && (*pending)[n - 2].type == e.type) {
      pending->pop_back();
      continue;
    }
    pending->push_back(std::move(e));
  }
}

UdpWarnings::Entry* UdpWarnings::Find(UdpEvent::Type type, int err, int reason) {
  // A handful of kinds (reasons × errnos) at most: a linear scan beats a map.
  for (Entry& e : entries_) {
    if (e.event.type == type && e.event.err == err && e.event.reason == reason) return &e;
  }
  Entry e;
  e.event.type = type;
  e.event.err = err;
  e.event.reason = reason;
  entries_.push_back(e);
  return &entries_.back();
}

void UdpWarnings::SessionError(const UdpAddr& client, int err, const char* syscall, uint64_t) {
  Entry* e = Find(UdpEvent::Type::kSessionError, err, 0);
  // Format only the client that will be named; the rest of the burst is just counted.
  if (e->pending == 0) e->event.client = FormatSockaddr(client.ss, client.len);
  e->event.syscall = syscall;
  e->pending++;
}

void UdpWarnings::Dropped(int reason, uint64_t count, uint64_t) {
  if (count == 0) return;
  Find(UdpEvent::Type::kDropped, 0, reason)->pending += count;
}

void UdpWarnings::SocketError(int err, const char* syscall, uint64_t) {
  Entry* e = Find(UdpEvent::Type::kSocketError, err, 0);
  e->event.syscall = syscall;
  e->pending++;
}

int64_t UdpWarnings::Flush(uint64_t nowMs, std::vector<UdpEvent>* out) {
  int64_t next = -1;
  for (Entry& e : entries_) {
    if (e.pending == 0) continue;
    uint64_t due = e.emitted ? e.lastEmitMs + kIntervalMs : 0;
    if (nowMs >= due) {
      e.event.count = e.pending;
      out->push_back(e.event);
      e.pending = 0;
      e.lastEmitMs = nowMs;
      e.emitted = true;
    } else {
      int64_t wait = static_cast<int64_t>(due - nowMs);
      if (next < 0 || wait < next) next = wait;
    }
  }
  return next;
}

}  // namespace sockrelay
