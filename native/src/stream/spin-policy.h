// When a relay loop polls epoll for a while instead of going to sleep.
//
// A thread that sleeps in epoll_wait and is woken costs two context switches and the scheduler's
// latency; during a bulk transfer the next event (the peer's ACK freeing room, the next segment)
// is usually microseconds away, so polling for it without sleeping moves more bytes per CPU second.
// Everywhere else it only burns CPU that the peers on the same cores need. So: poll only after a
// round that moved bulk data (never for small request/response traffic), and halve the time after
// each poll that found nothing, down to none; a bulk round now and then tries again.
#pragma once
#include <algorithm>
#include <cstdint>

namespace sockrelay {

class SpinPolicy {
 public:
  // A round that moved at least this much is bulk: more than any request/response exchange.
  static constexpr uint64_t kBulkBytes = 128 * 1024;
  static constexpr uint32_t kMaxUs = 50;
  static constexpr uint32_t kMinUs = 5;
  // With polling off, every this many-th bulk round polls again (for kMinUs).
  static constexpr uint32_t kRetryRounds = 64;

  // How long to poll before sleeping, after a round that moved `bytes`.
  uint32_t Next(uint64_t bytes) {
    if (bytes < kBulkBytes) return 0;
    if (budgetUs_ == 0 && ++skipped_ >= kRetryRounds) {
      skipped_ = 0;
      budgetUs_ = kMinUs;
    }
    return budgetUs_;
  }
  // The poll found events in time: it pays, so poll longer next time.
  void Hit() { budgetUs_ = std::min(kMaxUs, budgetUs_ * 2); }
  // It found nothing and the thread sleeps anyway: poll half as long next time.
  void Miss() { budgetUs_ = budgetUs_ / 2 < kMinUs ? 0 : budgetUs_ / 2; }

 private:
  uint32_t budgetUs_ = kMaxUs / 2;
  uint32_t skipped_ = 0;
};

}  // namespace sockrelay
