// What the UDP relay tells JavaScript, through the relays' one event sink (core/event-sink.h), and
// its warnings put through the sink's coalescing, so that a flood of failures is not a flood of
// events: per kind, the first goes out at once, the rest of that second as one count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/address.h"
#include "core/event-sink.h"

namespace sockrelay {

enum UdpDropReason {
  kDropSessionsMax,    // a new client while sessionsMax sessions are open
  kDropBackendError,   // no upstream socket could be opened, or the backend refused the datagram
  kDropUnboundClient,  // a unix client without an address: a reply could never reach it
  kDropTruncated,      // larger than the receive buffer
  kDropSendFailed,     // a socket buffer was full (either direction)
  kDropTooLarge,       // with the PROXY header in front, larger than the backend's family can carry
  kDropWouldLoop,      // from the backend, the relay itself or its upstream sockets: a session would loop
  kDropPerSource,      // a new client whose source holds its sessions-per-source already
  kDropPerSourceRate,  // a new client whose source opened sessions faster than its rate allows
  kDropReasonCount
};

const char* UdpDropReasonName(int reason);

struct UdpEvent {
  enum class Type { kBusy, kIdle, kSessionError, kDropped, kSocketError, kSessionClosed };
  UdpEvent() = default;
  explicit UdpEvent(Type t) : type(t) {}
  Type type = Type::kBusy;
  int err = 0;
  const char* syscall = "";
  int reason = 0;
  uint64_t count = 0;
  // kSessionError, kSessionClosed: the client; kDropped of a per-source reason: the source.
  std::string client;
  // kSessionClosed only.
  uint64_t bytesIn = 0;
  uint64_t bytesOut = 0;
  uint64_t durationMs = 0;
  const char* ending = "";
};

using UdpEventSink = EventSink<UdpEvent>;

class UdpWarnings {
 public:
  explicit UdpWarnings(UdpEventSink& sink) : sink_(sink) {}
  void SessionError(const SockAddr& client, int err, const char* syscall, uint64_t nowMs);
  // `source` names who was refused, for the per-source reasons (the first of each burst is named).
  void Dropped(int reason, uint64_t count, uint64_t nowMs, const std::string& source = "");
  void SocketError(int err, const char* syscall, uint64_t nowMs);

 private:
  UdpEventSink& sink_;
};

}  // namespace sockrelay
