// Handover of live connections between engine instances (src/engine/types.ts, HandoverConnection).
//
// Export runs on the loop thread: it stops reading the relaying connections, keeps
// splicing what its pipes hold into the destinations, and detaches a connection as soon as nothing
// of it is left in user space or a pipe: both sockets are dup'd for the caller, the originals
// closed without shutdown(), so the peers notice nothing. A connection still connecting to its
// backend holds nothing either: its client socket is detached at once with its connect deadline,
// its attempts are abandoned, and the next instance connects it anew. At the deadline the
// connections not yet flushed (a peer not reading) resume and are drained as before; the job then
// hands the detached ones to its callback, on the loop's thread.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/export-job.h"
#include "core/unique-fd.h"

namespace sockrelay {

struct HandedConnection {
  size_t listener = 0;
  UniqueFd clientFd;
  // Empty: still connecting to its backend, which the next instance connects as if it had accepted
  // the client (PROXY header included), by the same deadline.
  UniqueFd backendFd;
  uint64_t bytesIn = 0;
  uint64_t bytesOut = 0;
  // Still connecting: when its connect gives up, in NowMs() (CLOCK_MONOTONIC, one clock for every
  // process of the host, so it survives an exec or a restart); 0: never.
  uint64_t connectDeadlineMs = 0;
};

// A client socket accepted by someone else, for a listener's accept path.
struct AcceptedClient {
  size_t listener = 0;
  UniqueFd fd;
};

// Closes both sockets of each (with `reset`, the peers see RST); for connections nobody will take.
void CloseHanded(std::vector<HandedConnection>& list, bool reset);

using ConnectionExport = ExportSlot<HandedConnection>;

}  // namespace sockrelay
