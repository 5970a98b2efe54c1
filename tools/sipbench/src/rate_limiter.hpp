// RateLimiter and CountBudget: the two shared admission controls of a UAC run.
//
// Both are lock-free and shared by all workers, so the offered load is the configured total no matter how
// many workers there are or how unevenly the kernel spreads responses over them.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace sipbench {

// A token bucket in GCRA form: one atomic "theoretical arrival time" (TAT) in fixed-point nanoseconds.
// Taking k tokens advances the TAT by k intervals; tokens are available while TAT <= now. The burst
// tolerance bounds catch-up after a stall, so a late worker sends at most `burst` back-to-back requests
// instead of the whole backlog (which would measure the generator's hiccup, not the proxy).
class RateLimiter {
 public:
  // rate <= 0 means unlimited.
  RateLimiter(double rate_per_s, double burst_tokens, int64_t start_us)
      : unlimited_(rate_per_s <= 0),
        interval_fp_(unlimited_ ? 0 : static_cast<int64_t>(kScale * 1e9 / rate_per_s)),
        burst_fp_(static_cast<int64_t>(std::max(1.0, burst_tokens) * static_cast<double>(interval_fp_))),
        tat_fp_(start_us * 1000 * kScale) {}

  // Takes up to `want` tokens at time now_us and returns how many were granted.
  uint32_t take(int64_t now_us, uint32_t want) {
    if (unlimited_ || want == 0) return want;
    const int64_t now_fp = now_us * 1000 * kScale;
    int64_t tat = tat_fp_.load(std::memory_order_relaxed);
    for (;;) {
      const int64_t base = std::max(tat, now_fp - burst_fp_);
      if (base > now_fp) return 0;
      const int64_t avail = (now_fp - base) / interval_fp_ + 1;
      const auto granted = static_cast<uint32_t>(std::min<int64_t>(avail, want));
      if (tat_fp_.compare_exchange_weak(tat, base + granted * interval_fp_, std::memory_order_relaxed)) return granted;
    }
  }

  // Microseconds until the next token, 0 if one is available now; used as a poll timeout.
  int64_t waitUs(int64_t now_us) const {
    if (unlimited_) return 0;
    const int64_t now_fp = now_us * 1000 * kScale;
    const int64_t tat = tat_fp_.load(std::memory_order_relaxed);
    if (tat <= now_fp) return 0;
    return (tat - now_fp) / (1000 * kScale) + 1;
  }

  bool unlimited() const { return unlimited_; }

 private:
  static constexpr int64_t kScale = 1024;  // sub-nanosecond fixed point so 1e6/s does not round badly
  bool unlimited_;
  int64_t interval_fp_;
  int64_t burst_fp_;
  std::atomic<int64_t> tat_fp_;
};

// A bounded pool of sequence numbers 0..limit-1 handed out in order. The sequence number also picks the
// user (seq % users), so REGISTERs walk all users evenly across workers.
class CountBudget {
 public:
  explicit CountBudget(uint64_t limit) : limit_(limit) {}

  // Takes up to `want` numbers; returns how many and the first one in `first`.
  uint32_t take(uint32_t want, uint64_t& first) {
    uint64_t cur = next_.load(std::memory_order_relaxed);
    for (;;) {
      if (cur >= limit_) return 0;
      const auto n = static_cast<uint32_t>(std::min<uint64_t>(want, limit_ - cur));
      if (next_.compare_exchange_weak(cur, cur + n, std::memory_order_relaxed)) {
        first = cur;
        return n;
      }
    }
  }
  bool exhausted() const { return next_.load(std::memory_order_relaxed) >= limit_; }
  uint64_t issued() const { return std::min(next_.load(std::memory_order_relaxed), limit_); }

 private:
  const uint64_t limit_;
  std::atomic<uint64_t> next_{0};
};

}  // namespace sipbench
