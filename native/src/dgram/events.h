// What the UDP relay tells JavaScript, and its warnings put through the Coalescer, so that a flood of
// failures is not a flood of events: per kind, the first goes out at once, the rest of that second as
// one count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/address.h"
#include "core/coalescer.h"

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

// Appends to the batch still waiting for JavaScript. busy/idle pairs collapse (busy, idle, busy is
// busy): they reach JavaScript at one instant anyway, and a blocked event loop must not let a client
// hammering a dead backend grow the batch by two events per datagram.
void AppendUdpEvents(std::vector<UdpEvent>* pending, std::vector<UdpEvent>&& events);

class UdpWarnings {
 public:
  void SessionError(const SockAddr& client, int err, const char* syscall, uint64_t nowMs);
  // `source` names who was refused, for the per-source reasons (the first of each burst is named).
  void Dropped(int reason, uint64_t count, uint64_t nowMs, const std::string& source = "");
  void SocketError(int err, const char* syscall, uint64_t nowMs);
  // Moves the warnings that are due into `out`; returns ms until the next is due, or -1 for none.
  int64_t Flush(uint64_t nowMs, std::vector<UdpEvent>* out);

 private:
  Coalescer<UdpEvent> coalescer_;
};

}  // namespace sockrelay
