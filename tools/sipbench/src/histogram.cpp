// Histogram implementation; see histogram.hpp for the bucketing scheme.
#include "histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sipbench {

int Histogram::bucketOf(uint64_t value) {
  constexpr uint64_t kLimit = (uint64_t{1} << kMaxBits) - 1;
  value = std::min(value, kLimit);
  if (value < kSub) return static_cast<int>(value);  // the first range is exact
  // Keep the leading one and the kSubBits bits below it: sub is in [kSub, 2*kSub).
  const int shift = (63 - std::countl_zero(value)) - kSubBits;
  const int sub = static_cast<int>(value >> shift);
  return shift * kSub + sub;
}

uint64_t Histogram::bucketUpper(int bucket) {
  if (bucket < kSub) return static_cast<uint64_t>(bucket);
  const int shift = bucket / kSub - 1;
  const uint64_t sub = static_cast<uint64_t>(bucket % kSub + kSub);
  return ((sub + 1) << shift) - 1;
}

void Histogram::record(uint64_t value) {
  ++counts_[static_cast<std::size_t>(bucketOf(value))];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

uint64_t Histogram::percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(bucketUpper(static_cast<int>(i)), max_);
  }
  return max_;
}

}  // namespace sipbench
