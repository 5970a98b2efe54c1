// Histogram: bucket edges, percentile accuracy, merge.
#include "histogram.hpp"

#include <gtest/gtest.h>

#include <memory>

namespace sipbench {
namespace {

TEST(Histogram, EmptyReportsZero) {
  const auto h = std::make_unique<Histogram>();
  EXPECT_EQ(h->count(), 0u);
  EXPECT_EQ(h->percentile(0.5), 0u);
  EXPECT_EQ(h->max(), 0u);
  EXPECT_EQ(h->min(), 0u);
}

TEST(Histogram, SmallValuesAreExact) {
  const auto h = std::make_unique<Histogram>();
  for (uint64_t v = 1; v <= 100; ++v) h->record(v);
  EXPECT_EQ(h->percentile(0.50), 50u);
  EXPECT_EQ(h->percentile(0.90), 90u);
  EXPECT_EQ(h->percentile(0.99), 99u);
  EXPECT_EQ(h->percentile(1.0), 100u);
  EXPECT_EQ(h->min(), 1u);
  EXPECT_DOUBLE_EQ(h->mean(), 50.5);
}

TEST(Histogram, BucketsCoverValuesWithBoundedError) {
  uint64_t prev_bucket = 0;
  for (uint64_t v = 0; v < (uint64_t{1} << 22); v = v + 1 + v / 97) {
    const int b = Histogram::bucketOf(v);
    ASSERT_GE(static_cast<uint64_t>(b), prev_bucket) << v;  // monotonic
    prev_bucket = static_cast<uint64_t>(b);
    const uint64_t upper = Histogram::bucketUpper(b);
    ASSERT_GE(upper, v);
    ASSERT_LE(static_cast<double>(upper - v), static_cast<double>(v) / 128.0 + 1.0) << v;
    ASSERT_LT(b, Histogram::kBuckets);
  }
  EXPECT_LT(Histogram::bucketOf(UINT64_MAX), Histogram::kBuckets);  // clamped, never out of range
}

TEST(Histogram, PercentilesOfAWideDistributionAreWithinOnePercent) {
  const auto h = std::make_unique<Histogram>();
  for (uint64_t v = 1; v <= 100000; ++v) h->record(v * 10);  // 10 .. 1,000,000
  const auto near = [](uint64_t got, double want) { return std::abs(static_cast<double>(got) - want) <= want * 0.01; };
  EXPECT_TRUE(near(h->percentile(0.50), 500000)) << h->percentile(0.50);
  EXPECT_TRUE(near(h->percentile(0.90), 900000)) << h->percentile(0.90);
  EXPECT_TRUE(near(h->percentile(0.99), 990000)) << h->percentile(0.99);
  EXPECT_EQ(h->percentile(1.0), 1000000u);  // clamped to the true max
  EXPECT_EQ(h->max(), 1000000u);
}

TEST(Histogram, MergeAddsCountsAndKeepsExtremes) {
  const auto a = std::make_unique<Histogram>();
  const auto b = std::make_unique<Histogram>();
  for (int i = 0; i < 99; ++i) a->record(100);
  b->record(5000);
  a->merge(*b);
  EXPECT_EQ(a->count(), 100u);
  EXPECT_EQ(a->percentile(0.99), 100u);
  EXPECT_EQ(a->max(), 5000u);
  EXPECT_EQ(a->min(), 100u);
  EXPECT_EQ(a->percentile(1.0), 5000u);
}

}  // namespace
}  // namespace sipbench
