// Sessions handed from one instance to the next through systemd's fd store: what leaves a relay on
// export and what a relay is asked to adopt, with the reason an adoption was refused.
#pragma once
#include <string>

#include "core/export-job.h"
#include "core/unique-fd.h"

namespace sockrelay {

struct UdpHandoverSession {
  UniqueFd fd;         // a dup of the upstream socket, connected to the backend
  std::string client;  // as FormatAddress(..., true) prints it
  std::string local;   // the address replies leave from; '' when the kernel chooses
};

using SessionExport = ExportSlot<UdpHandoverSession>;

struct UdpAdoptRequest {
  // Not owned yet: AdoptSessions() decides whether it may take (or close) it.
  int fd = -1;
  std::string client;
  std::string local;
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
