// A fixed-bucket histogram: relay threads observe with relaxed atomics, JavaScript reads a
// snapshot at scrape time, so metrics cost no JavaScript per connection.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace sockrelay {

class Histogram {
 public:
  // Upper bounds in seconds, ascending; one more bucket than bounds catches the rest.
  explicit Histogram(const std::vector<double>& bounds);
  void Observe(uint64_t micros);

  struct Snapshot {
    std::vector<uint64_t> counts;
    uint64_t sumMicros;
    uint64_t count;
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> boundsMicros_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> sumMicros_{0};
  std::atomic<uint64_t> count_{0};
};

}  // namespace sockrelay
