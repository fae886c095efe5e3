// The backends' addresses, which JavaScript may replace while the loops connect (a backend name
// resolved again, src/backend/re-resolve.ts). Each loop keeps its own snapshot and checks the
// version, one atomic load per connect: the lock is taken only after a change.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "core/address.h"

namespace sockrelay {

class BackendTable {
 public:
  using Addresses = std::vector<SockAddr>;
  using Snapshot = std::vector<std::shared_ptr<const Addresses>>;

  explicit BackendTable(const std::vector<Addresses>& initial) {
    for (const Addresses& a : initial) lists_.push_back(std::make_shared<const Addresses>(a));
  }

  size_t size() const { return lists_.size(); }
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // The current lists, and the version they are (a change after it is seen at the next check).
  uint64_t Read(Snapshot* out) const {
    std::lock_guard<std::mutex> lock(mutex_);
    *out = lists_;
    return version_.load(std::memory_order_relaxed);
  }

  // Any thread; `index` < size(), `addresses` not empty (checked by the caller). Connects already
  // racing finish; the next attempt of a connection uses the new list.
  void Set(size_t index, Addresses addresses) {
    auto list = std::make_shared<const Addresses>(std::move(addresses));
    std::lock_guard<std::mutex> lock(mutex_);
    lists_[index] = std::move(list);
    version_.fetch_add(1, std::memory_order_release);
  }

 private:
  mutable std::mutex mutex_;
  Snapshot lists_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace sockrelay
