#include "dgram/events.h"

#include "core/address.h"

namespace sockrelay {

const char* UdpDropReasonName(int reason) {
  switch (reason) {
    case kDropSessionsMax: return "sessions-max";
    case kDropBackendError: return "backend-error";
    case kDropUnboundClient: return "unbound-client";
    case kDropTruncated: return "truncated";
    case kDropSendFailed: return "send-failed";
    case kDropTooLarge: return "too-large";
    case kDropWouldLoop: return "would-loop";
    case kDropPerSource: return "per-source";
    case kDropPerSourceRate: return "per-source-rate";
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

namespace {
UdpEvent::Type constexpr kSession = UdpEvent::Type::kSessionError;
UdpEvent::Type constexpr kSocket = UdpEvent::Type::kSocketError;
}  // namespace

void UdpWarnings::SessionError(const SockAddr& client, int err, const char* syscall, uint64_t) {
  coalescer_.Add({static_cast<int>(kSession), err, 0}, 1, [&](UdpEvent& e, bool first) {
    e.type = kSession;
    e.err = err;
    e.syscall = syscall;
    // Format only the client that will be named; the rest of the burst is just counted.
    if (first) e.client = FormatAddress(client);
  });
}

void UdpWarnings::Dropped(int reason, uint64_t count, uint64_t, const std::string& source) {
  coalescer_.Add({static_cast<int>(UdpEvent::Type::kDropped), 0, reason}, count, [&](UdpEvent& e, bool first) {
    e.type = UdpEvent::Type::kDropped;
    e.reason = reason;
    if (first) e.client = source;
  });
}

void UdpWarnings::SocketError(int err, const char* syscall, uint64_t) {
  coalescer_.Add({static_cast<int>(kSocket), err, 0}, 1, [&](UdpEvent& e, bool) {
    e.type = kSocket;
    e.err = err;
    e.syscall = syscall;
  });
}

int64_t UdpWarnings::Flush(uint64_t nowMs, std::vector<UdpEvent>* out) {
  uint64_t wait = coalescer_.Flush(nowMs, [out](const UdpEvent& e) { out->push_back(e); });
  return wait == UINT64_MAX ? -1 : static_cast<int64_t>(wait);
}

}  // namespace sockrelay
