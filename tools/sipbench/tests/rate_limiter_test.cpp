// RateLimiter and CountBudget: pacing, burst cap, count bound, shared use from threads.
#include "rate_limiter.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace sipbench {
namespace {

TEST(RateLimiter, GrantsAtTheConfiguredRate) {
  RateLimiter r(1000, 1, 0);  // 1 per ms
  EXPECT_EQ(r.take(0, 10), 1u);
  EXPECT_EQ(r.take(0, 10), 0u);
  EXPECT_EQ(r.take(500, 10), 0u);
  EXPECT_EQ(r.take(1000, 10), 1u);
  // Over one simulated second in 100 µs steps, exactly ~1000 tokens.
  uint64_t total = 0;
  for (int64_t t = 1000; t <= 1'001'000; t += 100) total += r.take(t, 64);
  EXPECT_NEAR(static_cast<double>(total), 1000.0, 2.0);
}

TEST(RateLimiter, BurstBoundsCatchUpAfterAStall) {
  RateLimiter r(1000, 5, 0);
  EXPECT_GT(r.take(0, 100), 0u);
  // One second of nothing, then a worker wakes: it may send the burst, not the 1000-token backlog.
  const uint32_t got = r.take(1'000'000, 10'000);
  EXPECT_LE(got, 6u);
  EXPECT_GE(got, 5u);
}

TEST(RateLimiter, WaitHintPointsAtTheNextToken) {
  RateLimiter r(100, 1, 0);  // every 10 ms
  EXPECT_EQ(r.take(0, 1), 1u);
  const int64_t w = r.waitUs(0);
  EXPECT_GT(w, 9000);
  EXPECT_LE(w, 10001);
  EXPECT_EQ(r.take(w, 1), 1u);
}

TEST(RateLimiter, UnlimitedGrantsAll) {
  RateLimiter r(0, 1, 0);
  EXPECT_TRUE(r.unlimited());
  EXPECT_EQ(r.take(0, 64), 64u);
  EXPECT_EQ(r.waitUs(0), 0);
}

TEST(CountBudget, HandsOutEachNumberOnceAcrossThreads) {
  CountBudget b(100000);
  std::vector<std::vector<uint64_t>> got(4);
  std::vector<std::thread> threads;
  for (auto& g : got) {
    threads.emplace_back([&b, &g] {
      uint64_t first = 0;
      for (int guard = 0; guard < 1'000'000; ++guard) {
        const uint32_t n = b.take(7, first);
        if (n == 0) break;
        for (uint32_t i = 0; i < n; ++i) g.push_back(first + i);
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int> seen(100000, 0);
  std::size_t total = 0;
  for (auto& g : got) {
    for (uint64_t v : g) ++seen[v];
    total += g.size();
  }
  EXPECT_EQ(total, 100000u);
  for (int s : seen) ASSERT_EQ(s, 1);
  EXPECT_TRUE(b.exhausted());
}

}  // namespace
}  // namespace sipbench
