// Handover of live connections between engine instances (src/engine/types.ts, HandoverConnection).
//
// Export runs on every loop thread at once: each stops reading its relaying connections, keeps
// splicing what its pipes hold into the destinations, and detaches a connection as soon as nothing
// of it is left in user space or a pipe: both sockets are dup'd for the caller, the originals
// closed without shutdown(), so the peers notice nothing. At the deadline the connections not yet
// flushed (a peer not reading) resume and are drained as before. The job completes when every
// loop has reported, and hands the whole list to one callback on the last loop's thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
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

  ExportJob(size_t parts, uint64_t timeoutMs, Done done);
  uint64_t timeoutMs() const { return timeoutMs_; }
  // One loop's share; the last of `parts` calls runs `done` with everything.
  void Complete(std::vector<HandedConnection> part);

 private:
  std::mutex mutex_;
  size_t remaining_;
  uint64_t timeoutMs_;
  std::vector<HandedConnection> all_;
  Done done_;
};

}  // namespace sockrelay
