// TimerQueue: ordering, rescheduling in place, cancel.
#include "timer_queue.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace sipbench {
namespace {

TEST(TimerQueue, PopsInDeadlineOrderAndMovesRescheduledEntries) {
  TimerQueue q(8);
  q.schedule(0, 50);
  q.schedule(1, 10);
  q.schedule(2, 30);
  q.schedule(1, 40);  // moved, not duplicated
  EXPECT_EQ(q.size(), 3u);
  q.cancel(2);
  uint32_t id;
  EXPECT_FALSE(q.popDue(39, id));
  ASSERT_TRUE(q.popDue(100, id));
  EXPECT_EQ(id, 1u);
  ASSERT_TRUE(q.popDue(100, id));
  EXPECT_EQ(id, 0u);
  EXPECT_FALSE(q.popDue(100, id));
  EXPECT_TRUE(q.empty());
}

TEST(TimerQueue, RandomOperationsKeepHeapOrder) {
  constexpr uint32_t kN = 500;
  TimerQueue q(kN);
  std::vector<int64_t> at(kN, -1);
  std::mt19937 rng(7);
  for (int step = 0; step < 20000; ++step) {
    const uint32_t id = rng() % kN;
    if (rng() % 4 == 0) {
      q.cancel(id);
      at[id] = -1;
    } else {
      at[id] = static_cast<int64_t>(rng() % 100000);
      q.schedule(id, at[id]);
    }
  }
  int64_t last = -1;
  uint32_t id;
  std::size_t popped = 0;
  while (q.popDue(INT64_MAX, id)) {
    ASSERT_GE(at[id], last);
    last = at[id];
    at[id] = -1;
    ++popped;
  }
  for (int64_t a : at) EXPECT_EQ(a, -1);
  EXPECT_GT(popped, 0u);
}

}  // namespace
}  // namespace sipbench
