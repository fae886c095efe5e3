// How both relays frame a handover export. The JavaScript thread asks for one; the relay's own
// thread carries it out between two rounds of its loop, the only place where connections and
// sessions may be touched without a lock; and what it detached goes to a callback, exactly once.
// One export at a time per relay: asking again before the last one completed is refused (EBUSY),
// so that no item is ever detached into a result nobody waits for.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace sockrelay {

template <typename Item>
class ExportJob {
 public:
  using Done = std::function<void(std::vector<Item>)>;
  ExportJob(uint64_t timeoutMs, Done done) : timeoutMs_(timeoutMs), done_(std::move(done)) {}

  // How long the relay may spend flushing what it holds before it hands over what is ready.
  uint64_t timeoutMs() const { return timeoutMs_; }
  // Gives the detached items to the callback; later calls do nothing.
  void Complete(std::vector<Item> detached) {
    Done done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(detached));
  }

 private:
  uint64_t timeoutMs_;
  Done done_;
};

// The one export a relay may have under way: begun and posted by the asking thread, taken by the
// relay's thread.
template <typename Item>
class ExportSlot {
 public:
  using Job = std::shared_ptr<ExportJob<Item>>;

  // A job whose completion frees the slot again, or null while the last one has not completed.
  Job Begin(uint64_t timeoutMs, typename ExportJob<Item>::Done done) {
    if (busy_->exchange(true)) return nullptr;
    // The flag is shared with the job, so completing it never depends on the slot still existing.
    auto busy = busy_;
    return std::make_shared<ExportJob<Item>>(timeoutMs, [busy, done = std::move(done)](std::vector<Item> items) {
      busy->store(false);
      done(std::move(items));
    });
  }
  // Hands `job` to the relay's thread; the caller then wakes that thread's loop.
  void Post(Job job) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      request_ = std::move(job);
    }
    requested_.store(true, std::memory_order_release);
  }
  // The relay's thread, every round: whether a posted job waits for Take().
  bool requested() const { return requested_.load(std::memory_order_acquire); }
  Job Take() {
    std::lock_guard<std::mutex> lock(mu_);
    requested_.store(false, std::memory_order_relaxed);
    return std::move(request_);
  }

 private:
  std::shared_ptr<std::atomic<bool>> busy_ = std::make_shared<std::atomic<bool>>(false);
  std::mutex mu_;
  Job request_;
  std::atomic<bool> requested_{false};
};

}  // namespace sockrelay
