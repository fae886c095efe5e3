// Handover of live connections between engine instances (src/engine/types.ts, HandoverConnection).
//
// Export runs on the loop thread: it stops reading the relaying connections, keeps
// splicing what its pipes hold into the destinations, and detaches a connection as soon as nothing
// of it is left in user space or a pipe: both sockets are dup'd for the caller, the originals
// closed without shutdown(), so the peers notice nothing. At the deadline the connections not yet
// flushed (a peer not reading) resume and are drained as before; the job then hands the detached
// ones to its callback, on the loop's thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/unique-fd.h"

namespace sockrelay {

struct HandedConnection {
  size_t listener = 0;
  UniqueFd clientFd;
  UniqueFd backendFd;
  uint64_t bytesIn = 0;
  uint64_t bytesOut = 0;
};

// A client socket accepted by someone else, for a listener's accept path.
struct AcceptedClient {
  size_t listener = 0;
  UniqueFd fd;
};

// Closes both sockets of each (with `reset`, the peers see RST); for connections nobody will take.
void CloseHanded(std::vector<HandedConnection>& list, bool reset);

class ExportJob {
 public:
  using Done = std::function<void(std::vector<HandedConnection>)>;

  ExportJob(uint64_t timeoutMs, Done done);
  uint64_t timeoutMs() const { return timeoutMs_; }
  // Runs `done` with the detached connections; once.
  void Complete(std::vector<HandedConnection> detached);

 private:
  uint64_t timeoutMs_;
  Done done_;
};

}  // namespace sockrelay
