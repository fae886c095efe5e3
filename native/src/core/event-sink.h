// Events from a relay thread to JavaScript: queued here, delivered in batches through one
// thread-safe function (js/event-channel.h). Both relays' events pass through one of these:
// - noisy kinds go through the Coalescer, per key one a second, the rest counted;
// - busy/idle pairs collapse (busy, idle, busy is busy): they reach JavaScript at one instant anyway,
//   and a blocked event loop must not let a client hammering a dead backend grow the batch by two
//   events per connection or datagram.
// Event has a `Type type` whose enum names kBusy and kIdle, and a `uint64_t count`.
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "core/coalescer.h"

namespace sockrelay {

template <typename Event>
class EventSink {
 public:
  using Key = typename Coalescer<Event>::Key;

  // `notify` runs (on any thread) when the queue stops being empty; it must not block.
  void SetNotify(std::function<void()> notify) {
    std::lock_guard<std::mutex> lock(mutex_);
    notify_ = std::move(notify);
  }

  // Any thread.
  void Push(Event event) {
    std::lock_guard<std::mutex> lock(mutex_);
    PushLocked(std::move(event));
  }

  // Counts `n` occurrences under `key` (Coalescer::Add); the first of a burst goes out at once.
  template <typename Fill>
  void Coalesce(const Key& key, uint64_t n, Fill fill, uint64_t now) {
    std::lock_guard<std::mutex> lock(mutex_);
    coalescer_.Add(key, n, fill);
    nextFlush_ = 0;
    FlushLocked(now);
  }

  // Emits coalesced events whose second is over; returns when to call again (UINT64_MAX: never).
  uint64_t Flush(uint64_t now) {
    std::lock_guard<std::mutex> lock(mutex_);
    return FlushLocked(now);
  }

  std::vector<Event> Take() {
    std::lock_guard<std::mutex> lock(mutex_);
    notified_ = false;
    return std::exchange(queue_, {});
  }

  // No more events after this; destroy() promises silence.
  void Close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    notify_ = nullptr;
    queue_.clear();
  }

 private:
  static bool IsTransition(const Event& e) { return e.type == Event::Type::kBusy || e.type == Event::Type::kIdle; }

  void PushLocked(Event event) {
    if (closed_) return;
    size_t n = queue_.size();
    // Transitions alternate, so [e, !e] followed by e is just e.
    if (IsTransition(event) && n >= 2 && IsTransition(queue_[n - 1]) && queue_[n - 2].type == event.type) {
      queue_.pop_back();
      return;
    }
    queue_.push_back(std::move(event));
    if (notified_ || !notify_) return;
    notified_ = true;
    notify_();
  }

  uint64_t FlushLocked(uint64_t now) {
    // Called once per loop round: most rounds have nothing due and return here.
    if (now < nextFlush_) return nextFlush_;
    uint64_t wait = coalescer_.Flush(now, [this](const Event& event) { PushLocked(event); });
    nextFlush_ = wait == UINT64_MAX ? UINT64_MAX : now + wait;
    return nextFlush_;
  }

  std::mutex mutex_;
  std::function<void()> notify_;
  std::vector<Event> queue_;
  bool notified_ = false;
  bool closed_ = false;
  Coalescer<Event> coalescer_;
  uint64_t nextFlush_ = UINT64_MAX;
};

}  // namespace sockrelay
