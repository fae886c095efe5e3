// Splice pipes belong to bytes in flight, not to connections (HAProxy's pipe pool).
//
// An idle relayed connection holds its two sockets and nothing else: a flow takes a pipe from its
// loop's pool when it reads, and gives it back as soon as the destination has taken every byte in
// it. A pool keeps a few empty pipes (`keep`) so a busy flow takes and returns one without a
// syscall; past that they are closed. The pipes open at once (in flows and in the pool) never
// exceed `budget`: the fd budget (src/engine/fd-budget.ts) reserves their fds next to the
// connections' sockets, so a pipe never takes an fd a new connection's backend socket needs.
// A flow that gets no pipe (budget spent, EMFILE, ENFILE) copies through user space instead
// (connection.cc: CopyWithoutPipe), holding nothing: a pipe is an optimisation, never a condition.
//
// Pooled pipes keep the size they grew to: resetting one costs an fcntl per return, and a busy
// flow returns its pipe once per wake-up; the budget bounds what they charge to the pipe quota.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/unique-fd.h"

namespace sockrelay {

struct Pipe {
  UniqueFd read;
  UniqueFd write;
  size_t size = 0;
  // Grown (or refused growing) already: never asked again.
  bool grown = false;
  explicit operator bool() const { return read.valid(); }
};

// Pipes of the whole process, for /metrics; each pool adds its own.
struct PipeCounts {
  uint64_t inUse;
  uint64_t pooled;
};
PipeCounts ProcessPipeCounts();

class PipePool {
 public:
  // `size`: what a new pipe is made (when smaller than the kernel's) and what it grows to once its
  // flow is bulk; 0: the kernel's, never changed.
  PipePool(size_t budget, size_t keep, int size);
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // A pipe for a flow: 0, or an errno (EAGAIN once the budget is spent) and *out stays empty.
  int Take(Pipe* out);
  // An empty pipe back from its flow: kept, or closed past `keep`.
  void Give(Pipe&& pipe);
  // A pipe that still holds bytes nobody will read (its connection closed): closed.
  void Discard(Pipe&& pipe);
  // Grows a bulk flow's pipe to `size` once.
  void Grow(Pipe& pipe);

  size_t open() const { return open_; }
  size_t pooled() const { return pool_.size(); }

 private:
  size_t budget_;
  size_t keep_;
  int size_;
  size_t open_ = 0;
  std::vector<Pipe> pool_;
};

}  // namespace sockrelay
