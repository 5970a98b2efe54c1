// Histogram: a fixed-size log-linear latency histogram (HdrHistogram-style).
//
// Values are bucketed by power of two with 128 linear sub-buckets per power, so any recorded value is
// reported within 1/128 (< 0.8 %) of its true value. Recording is a few bit operations and one increment,
// with no allocation after construction; workers keep their own and merge at the end.
#pragma once

#include <array>
#include <cstdint>

namespace sipbench {

class Histogram {
 public:
  static constexpr int kSubBits = 7;  // 128 sub-buckets per power of two
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kMaxBits = 40;  // values up to 2^40 µs (~12 days) are kept exactly by bucket
  static constexpr int kBuckets = (kMaxBits - kSubBits + 1) * kSub;

  void record(uint64_t value);
  void merge(const Histogram& other);

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ ? min_ : 0; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }

  // The smallest recorded value v such that at least q (0..1] of the samples are <= v, reported as the
  // upper edge of its bucket, clamped to max(). 0 when empty.
  uint64_t percentile(double q) const;

  static int bucketOf(uint64_t value);
  static uint64_t bucketUpper(int bucket);

 private:
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace sipbench
