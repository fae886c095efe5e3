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
UdpEvent::Type constexpr kSession = UdpEvent::Type::kSessionError;
UdpEvent::Type constexpr kSocket = UdpEvent::Type::kSocketError;
}  // namespace

void UdpWarnings::SessionError(const SockAddr& client, int err, const char* syscall, uint64_t nowMs) {
  sink_.Coalesce({static_cast<int>(kSession), err, 0}, 1, [&](UdpEvent& e, bool first) {
    e.type = kSession;
    e.err = err;
    e.syscall = syscall;
    // Format only the client that will be named; the rest of the burst is just counted.
    if (first) e.client = FormatAddress(client);
  }, nowMs);
}

void UdpWarnings::Dropped(int reason, uint64_t count, uint64_t nowMs, const std::string& source) {
  sink_.Coalesce({static_cast<int>(UdpEvent::Type::kDropped), 0, reason}, count, [&](UdpEvent& e, bool first) {
    e.type = UdpEvent::Type::kDropped;
    e.reason = reason;
    if (first) e.client = source;
  }, nowMs);
}

void UdpWarnings::SocketError(int err, const char* syscall, uint64_t nowMs) {
  sink_.Coalesce({static_cast<int>(kSocket), err, 0}, 1, [&](UdpEvent& e, bool) {
    e.type = kSocket;
    e.err = err;
    e.syscall = syscall;
  }, nowMs);
}

}  // namespace sockrelay
