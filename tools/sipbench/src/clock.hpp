// Monotonic time in microseconds; the single time base for timers, rate control and latency.
#pragma once

#include <cstdint>
#include <ctime>

namespace sipbench {

inline int64_t nowUs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

}  // namespace sipbench
