// RelayLoop's side of per-source admission (core/source-table.h): a client found over its source's
// limits as it was accepted is reset at once. Reset, not queued: leaving it in the backlog would make every
// client behind it wait for the one that is over its share, the very thing the limits are there to
// stop; and not closed with a FIN, which a client could take for a backend that answered nothing.
#include "stream/loop.h"

#include "core/close-reason.h"

namespace sockrelay {

void RelayLoop::Refuse(UniqueFd fd, size_t listener, const SockAddr& peer, SourceVerdict verdict, uint64_t now) {
  fd.Reset();
  bool rate = verdict == SourceVerdict::kOverRate;
  (rate ? counters_[listener].refusedPerSourceRate : counters_[listener].refusedPerSource)++;
  const char* reason = rate ? close_reason::kRefusedPerSourceRate : close_reason::kRefusedPerSource;
  if (config_.connectionEvents) {
    // The access log's line for it: an open and its close, nothing relayed.
    uint64_t id = ++nextId_;
    RelayEventRecord open{RelayEventRecord::Type::kOpen};
    open.listener = static_cast<int>(listener);
    open.id = id;
    open.peer = FormatAddress(peer);
    events_.Push(std::move(open));
    RelayEventRecord close{RelayEventRecord::Type::kClose};
    close.listener = static_cast<int>(listener);
    close.id = id;
    close.reason = reason;
    events_.Push(std::move(close));
  }
  // One warning a second per listener, naming the latest source refused and counting the rest.
  RelayEventRecord event{RelayEventRecord::Type::kRefused};
  event.listener = static_cast<int>(listener);
  event.reason = reason;
  event.peer = SourceTable::Describe(config_.sources, peer);
  PushCoalesced(events_, event, now);
}

}  // namespace sockrelay
