// "One report per second": the limiter both relays put in front of their noisy events. Per key, the
// first occurrence goes out at the next Flush(), the rest of that second as one event with a count.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <map>

namespace sockrelay {

template <typename Event>
class Coalescer {
 public:
  static constexpr uint64_t kIntervalMs = 1000;
  using Key = std::array<int, 3>;

  // Counts `n` occurrences under `key`; `fill(event, first)` updates the event that will be reported,
  // `first` telling whether it is the first of a burst (so that costly fields are made only once).
  template <typename Fill>
  void Add(const Key& key, uint64_t n, Fill fill) {
    if (n == 0) return;
    Slot& slot = slots_[key];
    fill(slot.event, slot.pending == 0);
    slot.pending += n;
  }

  // Passes each event that is due, its count set, to `emit`; returns the ms until the next is due
  // (UINT64_MAX: none pending).
  template <typename Emit>
  uint64_t Flush(uint64_t nowMs, Emit emit) {
    uint64_t next = UINT64_MAX;
    for (auto& entry : slots_) {
      Slot& slot = entry.second;
      if (slot.pending == 0) continue;
      uint64_t due = slot.emitted ? slot.lastMs + kIntervalMs : 0;
      if (nowMs < due) {
        next = std::min(next, due - nowMs);
        continue;
      }
      slot.event.count = slot.pending;
      emit(slot.event);
      slot.pending = 0;
      slot.lastMs = nowMs;
      slot.emitted = true;
    }
    return next;
  }

 private:
  struct Slot {
    Event event;
    uint64_t pending = 0;
    uint64_t lastMs = 0;
    bool emitted = false;
  };
  std::map<Key, Slot> slots_;
};

}  // namespace sockrelay
