#include "stream/event-queue.h"

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
  // The latest occurrence is the one reported: its errno is the freshest news.
  coalescer_.Add({static_cast<int>(event.type), event.listener, 0}, 1,
                 [&event](RelayEventRecord& slot, bool) { slot = event; });
  nextFlush_ = 0;
  FlushLocked(now);
}

uint64_t EventSink::Flush(uint64_t now) {
  std::lock_guard<std::mutex> lock(mutex_);
  return FlushLocked(now);
}

uint64_t EventSink::FlushLocked(uint64_t now) {
  // Called once per loop round: most rounds have nothing due and return here.
  if (now < nextFlush_) return nextFlush_;
  uint64_t wait = coalescer_.Flush(now, [this](const RelayEventRecord& event) { PushLocked(event); });
  nextFlush_ = wait == UINT64_MAX ? UINT64_MAX : now + wait;
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
