// What the stream relay tells JavaScript, through the relays' one event sink (core/event-sink.h).
#pragma once
#include <cstdint>
#include <string>

#include "core/event-sink.h"

namespace sockrelay {

struct RelayEventRecord {
  enum class Type { kBusy, kIdle, kOpen, kClose, kConnectFailed, kAcceptError, kConnectionError, kRefused };
  RelayEventRecord(Type t = Type::kBusy) : type(t) {}
  Type type;
  int listener = -1;
  uint64_t id = 0;
  int err = 0;
  const char* syscall = "";
  uint64_t count = 1;
  uint64_t bytesIn = 0;
  uint64_t bytesOut = 0;
  uint64_t durationUs = 0;  // kClose: accept to close
  const char* reason = "";
  // kOpen: the client's address; kRefused: its source (core/source-table.h).
  std::string peer;
};

using RelayEventSink = EventSink<RelayEventRecord>;

// A failure worth one report a second per listener and kind; the latest occurrence is the one
// reported, its errno the freshest news.
inline void PushCoalesced(RelayEventSink& sink, const RelayEventRecord& event, uint64_t now) {
  sink.Coalesce({static_cast<int>(event.type), event.listener, 0}, 1,
                [&event](RelayEventRecord& slot, bool) { slot = event; }, now);
}

}  // namespace sockrelay
