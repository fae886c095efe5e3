#include "relay-events.h"

#include <algorithm>

namespace sockrelay {

void EventSink::SetNotify(std::function<void()> notify) {
  std::lock_guard<std::mutex> lock(mutex_);
  notify_ = std::move(notify);
}

void EventSink::Push(RelayEventRecord event) {
  std::lock_guard<std::mutex> lock(mutex_);
  PushLocked(std::move(event));
}

void EventSink::PushLocked(RelayEventRecord event) {
  if (closed_) return;
  queue_.push_back(std::move(event));
  if (notified_ || !notify_) return;
  notified_ = true;
  notify_();
}

void EventSink::PushCoalesced(RelayEventRecord event, uint64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  Slot& slot = slots_[{static_cast<int>(event.type), event.listener}];
  if (!slot.emitted || now >= slot.last + kCoalesceMs) {
    event.count = slot.pending + 1;
    slot = Slot{true, now, 0, event};
    PushLocked(std::move(event));
    return;
  }
  slot.pending++;
  slot.latest = std::move(event);
  nextFlush_ = std::min(nextFlush_, slot.last + kCoalesceMs);
}

uint64_t EventSink::Flush(uint64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (now < nextFlush_) return nextFlush_;
  nextFlush_ = UINT64_MAX;
  for (auto& entry : slots_) {
    Slot& slot = entry.second;
    if (slot.pending == 0) continue;
    if (now < slot.last + kCoalesceMs) {
      nextFlush_ = std::min(nextFlush_, slot.last + kCoalesceMs);
      continue;
    }
    RelayEventRecord event = slot.latest;
    event.count = slot.pending;
    slot.last = now;
    slot.pending = 0;
    PushLocked(std::move(event));
  }
  return nextFlush_;
}

std::vector<RelayEventRecord> EventSink::Take() {
  std::lock_guard<std::mutex> lock(mutex_);
  notified_ = false;
  return std::exchange(queue_, {});
}

void EventSink::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
  notify_ = nullptr;
  queue_.clear();
}

}  // namespace sockrelay
