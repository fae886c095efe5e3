#include "stream/pipe-pool.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace sockrelay {
namespace {

std::atomic<uint64_t> processInUse{0};
std::atomic<uint64_t> processPooled{0};

}  // namespace

PipeCounts ProcessPipeCounts() {
  return {processInUse.load(std::memory_order_relaxed), processPooled.load(std::memory_order_relaxed)};
}

PipePool::PipePool(size_t budget, size_t keep, int size) : budget_(budget), keep_(keep), size_(size) {
  pool_.reserve(keep_);
}

PipePool::~PipePool() {
  processPooled.fetch_sub(pool_.size(), std::memory_order_relaxed);
  processInUse.fetch_sub(open_ - pool_.size(), std::memory_order_relaxed);
}

int PipePool::Take(Pipe* out) {
  if (!pool_.empty()) {
    *out = std::move(pool_.back());
    pool_.pop_back();
    processPooled.fetch_sub(1, std::memory_order_relaxed);
    processInUse.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  if (open_ >= budget_) return EAGAIN;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) return errno;
  Pipe pipe;
  pipe.read.reset(fds[0]);
  pipe.write.reset(fds[1]);
  int actual = fcntl(fds[0], F_GETPIPE_SZ);
  if (actual <= 0) return errno;
  // A smaller pipe than the kernel's is taken at once; a larger one only once the flow is bulk,
  // because the size counts against the user's pipe quota (fs/pipe-user-pages-soft) whether the
  // pipe holds anything or not: past it an unprivileged user's new pipes get two pages.
  if (size_ > 0 && size_ < actual) {
    int smaller = fcntl(fds[0], F_SETPIPE_SZ, size_);
    if (smaller > 0) actual = smaller;
  }
  pipe.size = static_cast<size_t>(actual);
  pipe.grown = size_ <= actual;
  *out = std::move(pipe);
  open_++;
  processInUse.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

void PipePool::Give(Pipe&& pipe) {
  if (pool_.size() >= keep_) return Discard(std::move(pipe));
  pool_.push_back(std::move(pipe));
  processInUse.fetch_sub(1, std::memory_order_relaxed);
  processPooled.fetch_add(1, std::memory_order_relaxed);
}

void PipePool::Discard(Pipe&& pipe) {
  Pipe closing = std::move(pipe);
  closing.read.Close();
  closing.write.Close();
  open_--;
  processInUse.fetch_sub(1, std::memory_order_relaxed);
}

// Refused (over pipe-max-size or the quota), the pipe stays as it is.
void PipePool::Grow(Pipe& pipe) {
  int actual = fcntl(pipe.read.get(), F_SETPIPE_SZ, size_);
  if (actual > 0) pipe.size = static_cast<size_t>(actual);
  pipe.grown = true;
}

}  // namespace sockrelay
