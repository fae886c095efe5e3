#include "stream/histogram.h"

#include <algorithm>
#include <cmath>

namespace sockrelay {

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  for (double bound : bounds) boundsMicros_.push_back(static_cast<uint64_t>(std::llround(bound * 1e6)));
  for (size_t i = 0; i <= bounds.size(); i++) counts_[i] = 0;
}

void Histogram::Observe(uint64_t micros) {
  // Prometheus buckets are "less than or equal": the first bound not below the value.
  size_t bucket = std::lower_bound(boundsMicros_.begin(), boundsMicros_.end(), micros) - boundsMicros_.begin();
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sumMicros_.fetch_add(micros, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot{{}, sumMicros_.load(std::memory_order_relaxed), count_.load(std::memory_order_relaxed)};
  for (size_t i = 0; i <= bounds_.size(); i++) snapshot.counts.push_back(counts_[i].load(std::memory_order_relaxed));
  return snapshot;
}

}  // namespace sockrelay
