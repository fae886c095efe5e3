// Events from the relay threads to JavaScript: queued here, delivered in batches through one
// thread-safe function. Noisy kinds go through the Coalescer: per listener and kind, one a second.
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/coalescer.h"

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

class EventSink {
 public:
  // `notify` runs (on any thread) when the queue stops being empty; it must not block.
  void SetNotify(std::function<void()> notify);
  void Push(RelayEventRecord event);
  void PushCoalesced(RelayEventRecord event, uint64_t now);
  // Emits coalesced events whose second is over; returns when to call again (UINT64_MAX: never).
  uint64_t Flush(uint64_t now);
  std::vector<RelayEventRecord> Take();
  // No more events after this; destroy() promises silence.
  void Close();

 private:
  void PushLocked(RelayEventRecord event);
  uint64_t FlushLocked(uint64_t now);

  std::mutex mutex_;
  std::function<void()> notify_;
  std::vector<RelayEventRecord> queue_;
  bool notified_ = false;
  bool closed_ = false;
  Coalescer<RelayEventRecord> coalescer_;
  uint64_t nextFlush_ = UINT64_MAX;
};

}  // namespace sockrelay
