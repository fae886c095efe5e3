// Sessions handed from one instance to the next through systemd's fd store: what leaves a relay on
// export and what a relay is asked to adopt, with the reason an adoption was refused.
#pragma once
#include <string>

namespace sockrelay {

struct UdpHandoverSession {
  int fd = -1;         // the upstream socket, connected to the backend
  std::string client;  // as FormatUdpAddrText prints it
  std::string local;   // the address replies leave from; '' when the kernel chooses
};

struct UdpAdoptRequest {
  UdpHandoverSession session;
  // Set by the caller when the entry was malformed before it reached the core: refused with this
  // message, its fd still closed when it is one the relay may close.
  std::string invalid;
};

struct UdpAdoptFailure {
  enum class Kind { kNone, kInvalid, kSystem, kSessionsMax };
  Kind kind = Kind::kNone;
  std::string message;  // kInvalid
  int err = 0;          // kSystem
  const char* syscall = "";
};

}  // namespace sockrelay
