// The forwarding-delay histogram and the stats JSON built from the workers' counters.
#include "proxy/stats.h"

#include <gtest/gtest.h>

using sipedge::proxy::Counters;
using sipedge::proxy::kDelayBoundsUs;

TEST(DelayHistogram, ABoundBelongsToItsOwnBucketAndAboveTheLastIsOpen) {
  Counters c;
  c.udpDelay.add(-3);     // clock steps can make a delay negative: it counts as 0
  c.udpDelay.add(25);     // == first bound
  c.udpDelay.add(26);     // second bucket
  c.udpDelay.add(1000);   // == the 1000 µs bound
  c.udpDelay.add(50000);  // == the last bound
  c.udpDelay.add(50001);  // open bucket
  EXPECT_EQ(c.udpDelay.bucket(0), 2u);
  EXPECT_EQ(c.udpDelay.bucket(1), 1u);
  std::size_t ms = 0;
  while (kDelayBoundsUs[ms] != 1000) ++ms;
  EXPECT_EQ(c.udpDelay.bucket(ms), 1u);
  EXPECT_EQ(c.udpDelay.bucket(kDelayBoundsUs.size() - 1), 1u);
  EXPECT_EQ(c.udpDelay.bucket(kDelayBoundsUs.size()), 1u);
  EXPECT_EQ(c.udpDelay.sumUs(), 25u + 26 + 1000 + 50000 + 50001);
}

TEST(StatsJson, SumsTheWorkers) {
  Counters a, b;
  a.rxPackets.inc(3);
  b.rxPackets.inc(4);
  b.sendErrors.inc();
  a.udpDelay.add(10);
  b.udpDelay.add(10);
  b.udpDelay.add(70);
  auto j = sipedge::proxy::statsJson({&a, &b});
  EXPECT_EQ(j["counters"]["rxPackets"], 7);
  EXPECT_EQ(j["counters"]["sendErrors"], 1);
  EXPECT_EQ(j["counters"]["loops"], 0);
  const auto& h = j["udp_forward_delay_us"];
  ASSERT_EQ(h["le"].size(), kDelayBoundsUs.size() + 1);
  EXPECT_EQ(h["le"][0], 25);
  EXPECT_TRUE(h["le"].back().is_null());
  EXPECT_EQ(h["count"][0], 2);
  EXPECT_EQ(h["count"][2], 1);  // 70 µs: the (50, 75] bucket
  EXPECT_EQ(h["sum"], 90);
}
