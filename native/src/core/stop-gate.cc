#include "core/stop-gate.h"

#include <algorithm>
#include <utility>

namespace sockrelay {

using Lock = std::lock_guard<std::recursive_mutex>;

StopGate::StopGate(uint32_t cap, std::function<int(bool)> watch, std::function<void(bool)> transition)
    : cap_(cap), watch_(std::move(watch)), transition_(std::move(transition)) {}

int StopGate::Open() {
  Lock lock(mutex_);
  if (shutdown_) return 0;
  accepting_ = true;
  int err = Sync();
  if (err == 0) return 0;
  accepting_ = false;
  watch_(false);
  return err;
}

void StopGate::AddOpen() {
  Lock lock(mutex_);
  if (++open_ == 1) transition_(true);
  Sync();
}

void StopGate::Release() {
  Lock lock(mutex_);
  if (--open_ == 0) transition_(false);
  Sync();
}

void StopGate::Pause(uint64_t until) {
  Lock lock(mutex_);
  pausedUntil_ = std::max(pausedUntil_, until);
  Sync();
}

void StopGate::Resume(uint64_t now) {
  Lock lock(mutex_);
  if (now >= pausedUntil_) pausedUntil_ = 0;
  Sync();
}

uint64_t StopGate::pausedUntil() {
  Lock lock(mutex_);
  return pausedUntil_;
}

bool StopGate::TryStop() {
  Lock lock(mutex_);
  if (open_ > 0) return false;
  stoppedByTry_ = accepting_;
  accepting_ = false;
  Sync();
  return true;
}

int StopGate::ResumeAfterTryStop() {
  Lock lock(mutex_);
  if (!stoppedByTry_) return 0;
  stoppedByTry_ = false;
  accepting_ = true;
  int err = Sync();
  if (err != 0) accepting_ = false;
  return err;
}

void StopGate::StopAccepting() {
  Lock lock(mutex_);
  stoppedByTry_ = false;
  accepting_ = false;
  Sync();
}

void StopGate::Shutdown() {
  Lock lock(mutex_);
  stoppedByTry_ = false;
  accepting_ = false;
  Sync();
  shutdown_ = true;
}

uint32_t StopGate::open() {
  Lock lock(mutex_);
  return open_;
}

int StopGate::Sync() {
  bool want = !shutdown_ && accepting_ && pausedUntil_ == 0 && open_ < cap_;
  if (want == watched_) return 0;
  if (int err = watch_(want); err != 0 && want) return err;
  watched_ = want;
  return 0;
}

}  // namespace sockrelay
