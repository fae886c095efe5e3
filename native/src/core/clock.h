// The one clock of the addon: CLOCK_MONOTONIC, never stepped by the wall clock.
#pragma once
#include <time.h>

#include <cstdint>

namespace sockrelay {

inline uint64_t NowUs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}
inline uint64_t NowMs() { return NowUs() / 1000; }

}  // namespace sockrelay
