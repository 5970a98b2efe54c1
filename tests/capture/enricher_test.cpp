// Enricher: region/ISP from a tiny MaxMind DB written by the test itself (tests/capture/data/mmdb_writer.h),
// and the asynchronous reverse-DNS cache driven by an injected resolve function and clock. The one test that uses
// the system resolver asks only about 127.0.0.1 (answered from /etc/hosts); nothing here queries real DNS.
#include "capture/enricher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "data/mmdb_writer.h"

using namespace sipedge::capture;
using sipedge::testdata::mmdb::Value;
using sipedge::testdata::mmdb::Writer;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

Value names(const std::string& en) {
  return Value::m({{"en", Value::s(en)}});
}

// The shapes of GeoLite2-City, GeoIP2-ISP and GeoLite2-ASN records, on documentation and loopback ranges.
void addNetworks(Writer& w, bool withIpv6) {
  w.insert("127.0.1.0/24",
           Value::m({
               {"city", Value::m({{"names", names("Munich")}})},
               {"country", Value::m({{"iso_code", Value::s("DE")}, {"names", names("Germany")}})},
               {"subdivisions", Value::a({Value::m({{"iso_code", Value::s("BY")}, {"names", names("Bavaria")}})})},
               {"isp", Value::s("Example Telecom")},
               {"organization", Value::s("Example Org")},
           }));
  w.insert("127.0.2.0/24", Value::m({
                               {"country", Value::m({{"iso_code", Value::s("FR")}})},
                               {"autonomous_system_number", Value::u32(64500)},
                               {"autonomous_system_organization", Value::s("Example AS")},
                           }));
  w.insert("127.0.3.0/24", Value::m({
                               // wrong types: must be ignored, not trusted
                               {"country", Value::m({{"iso_code", Value::u32(7)}})},
                               {"isp", Value::a({Value::s("x")})},
                           }));
  w.insert("192.0.2.0/25", Value::m({
                               {"registered_country", Value::m({{"iso_code", Value::s("US")}})},
                               {"city", Value::m({{"names", names("Spring\nfield")}})},
                               {"organization", Value::s("Documentation Org")},
                           }));
  if (withIpv6) w.insert("2001:db8::/32", Value::m({{"country", Value::m({{"iso_code", Value::s("JP")}})}}));
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "enricher-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

Enricher::Options geoOnly(const std::string& path) {
  Enricher::Options o;
  o.geoipPath = path;
  return o;
}

class GeoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Writer v6(6);
    addNetworks(v6, true);
    v6.writeFile(dir_.file("city6.mmdb"));
    Writer v4(4);
    addNetworks(v4, false);
    v4.writeFile(dir_.file("city4.mmdb"));
  }
  TempDir dir_;
};

TEST_F(GeoTest, CityHitGivesCountrySubdivisionCityAndIsp) {
  Enricher e(geoOnly(dir_.file("city6.mmdb")));
  ASSERT_TRUE(e.geoEnabled());
  auto r = e.lookupNow("127.0.1.77");
  EXPECT_EQ(r.region, "DE/Bavaria/Munich");
  EXPECT_EQ(r.isp, "Example Telecom");  // isp wins over organization
  EXPECT_EQ(r.hostname, "");
  EXPECT_EQ(e.stats().geoHits.load(), 1u);
}

TEST_F(GeoTest, AsnOrganizationWhenNoIsp) {
  Enricher e(geoOnly(dir_.file("city6.mmdb")));
  auto r = e.lookupNow("127.0.2.1");
  EXPECT_EQ(r.region, "FR");
  EXPECT_EQ(r.isp, "Example AS");
}

TEST_F(GeoTest, RegisteredCountryOrganizationAndControlBytesCleaned) {
  Enricher e(geoOnly(dir_.file("city6.mmdb")));
  auto r = e.lookupNow("192.0.2.10");
  EXPECT_EQ(r.region, "US/Spring?field");
  EXPECT_EQ(r.isp, "Documentation Org");
}

TEST_F(GeoTest, WrongTypesAreIgnored) {
  Enricher e(geoOnly(dir_.file("city6.mmdb")));
  auto r = e.lookupNow("127.0.3.3");
  EXPECT_EQ(r.region, "");
  EXPECT_EQ(r.isp, "");
}

TEST_F(GeoTest, MissGivesEmptyFields) {
  Enricher e(geoOnly(dir_.file("city6.mmdb")));
  for (const char* ip : {"127.0.4.1", "192.0.2.200", "10.1.2.3"}) {
    auto r = e.lookupNow(ip);
    EXPECT_EQ(r.region, "") << ip;
    EXPECT_EQ(r.isp, "") << ip;
  }
  EXPECT_EQ(e.stats().geoHits.load(), 0u);
  EXPECT_EQ(e.stats().geoErrors.load(), 0u);
}

TEST_F(GeoTest, Ipv6HitAndMissInIpv6Database) {
  Enricher e(geoOnly(dir_.file("city6.mmdb")));
  EXPECT_EQ(e.lookupNow("2001:db8::1").region, "JP");
  EXPECT_EQ(e.lookupNow("[2001:db8:1::5]").region, "JP");
  EXPECT_EQ(e.lookupNow("2001:db9::1").region, "");
  EXPECT_EQ(e.lookupNow("::1").region, "");
  EXPECT_EQ(e.lookupNow("::ffff:127.0.1.9").region, "DE/Bavaria/Munich");  // IPv4-mapped looked up as IPv4
}

TEST_F(GeoTest, Ipv6MissInIpv4Database) {
  Enricher e(geoOnly(dir_.file("city4.mmdb")));
  EXPECT_EQ(e.lookupNow("127.0.1.1").region, "DE/Bavaria/Munich");
  auto r = e.lookupNow("2001:db8::1");
  EXPECT_EQ(r.region, "");
  EXPECT_EQ(r.isp, "");
  EXPECT_EQ(e.stats().geoErrors.load(), 0u);  // a miss, not an error
  EXPECT_EQ(e.lookupNow("::ffff:127.0.2.2").region, "FR");
}

TEST_F(GeoTest, NonNumericInputIsNotLookedUp) {
  Enricher e(geoOnly(dir_.file("city6.mmdb")));
  for (const char* ip : {"", "localhost", "example.com", "127.0.1", "fe80::1%eth0", "[]", "1.2.3.4.5"}) {
    EXPECT_EQ(e.lookupNow(ip).region, "") << ip;
  }
  EXPECT_EQ(e.stats().geoLookups.load(), 0u);
}

TEST_F(GeoTest, NoDatabaseConfiguredMeansNoGeo) {
  Enricher e(Enricher::Options{});
  EXPECT_FALSE(e.geoEnabled());
  EXPECT_FALSE(e.reverseDnsEnabled());
  auto r = e.enrich("127.0.1.1");
  EXPECT_EQ(r.region, "");
  EXPECT_EQ(r.hostname, "");
}

TEST_F(GeoTest, MissingFileIsAClearStartupError) {
  std::string path = dir_.file("nope.mmdb");
  try {
    Enricher e(geoOnly(path));
    FAIL() << "no exception";
  } catch (const EnrichError& err) {
    std::string what = err.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("No such file"), std::string::npos) << what;
  }
}

void expectCorrupt(const std::string& path) {
  try {
    Enricher e(geoOnly(path));
    FAIL() << "no exception for " << path;
  } catch (const EnrichError& err) {
    std::string what = err.what();
    EXPECT_NE(what.find("geoip database '" + path + "'"), std::string::npos) << what;
  }
}

TEST_F(GeoTest, CorruptFilesAreClearStartupErrors) {
  {
    std::ofstream f(dir_.file("garbage.mmdb"), std::ios::binary);
    for (int i = 0; i < 4096; ++i) f.put(static_cast<char>((i * 7919) & 0xff));
  }
  expectCorrupt(dir_.file("garbage.mmdb"));
  { std::ofstream f(dir_.file("empty.mmdb"), std::ios::binary); }
  expectCorrupt(dir_.file("empty.mmdb"));

  Writer w(6);
  addNetworks(w, true);
  std::string bytes = w.build();
  {  // cut off inside the metadata
    std::ofstream f(dir_.file("truncated.mmdb"), std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 40));
  }
  expectCorrupt(dir_.file("truncated.mmdb"));
  {  // metadata claims a far larger tree than the file holds
    std::string big = bytes;
    auto at = big.rfind("node_count");
    ASSERT_NE(at, std::string::npos);
    std::size_t v = at + std::string("node_count").size();  // the uint32's control byte, then its bytes
    std::size_t oldLen = static_cast<std::size_t>(static_cast<unsigned char>(big[v]) & 0x1f);
    big[v] = static_cast<char>((6 << 5) | 3);
    big.replace(v + 1, oldLen, std::string("\xff\xff\xff", 3));
    std::ofstream f(dir_.file("lying.mmdb"), std::ios::binary);
    f.write(big.data(), static_cast<std::streamsize>(big.size()));
  }
  expectCorrupt(dir_.file("lying.mmdb"));
}

TEST_F(GeoTest, CorruptSearchTreeIsCountedNotFatal) {
  Writer w(4);
  addNetworks(w, false);
  std::string bytes = w.build();
  bytes[0] = bytes[1] = bytes[2] = '\xff';  // root's left record points past the data section
  {
    std::ofstream f(dir_.file("badtree.mmdb"), std::ios::binary);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  Enricher e(geoOnly(dir_.file("badtree.mmdb")));
  auto r = e.lookupNow("127.0.1.1");
  EXPECT_EQ(r.region, "");
  EXPECT_EQ(e.stats().geoErrors.load(), 1u);
}

// ---- reverse DNS ----

// A resolver the test controls: answers from a table, counts calls, and can hold every call until released.
class FakeResolver {
 public:
  std::map<std::string, std::string> names;

  std::string operator()(const std::string& ip) {
    std::unique_lock lock(mu_);
    ++calls_[ip];
    ++inCall_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return !hold_; });
    --inCall_;
    auto it = names.find(ip);
    return it == names.end() ? std::string() : it->second;
  }
  void hold() {
    std::lock_guard lock(mu_);
    hold_ = true;
  }
  void release() {
    {
      std::lock_guard lock(mu_);
      hold_ = false;
    }
    cv_.notify_all();
  }
  // Waits until `n` calls are inside the resolver (held).
  bool waitInCall(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 5s, [&] { return inCall_ >= n; });
  }
  int calls(const std::string& ip) {
    std::lock_guard lock(mu_);
    return calls_[ip];
  }
  int totalCalls() {
    std::lock_guard lock(mu_);
    int n = 0;
    for (auto& [k, v] : calls_) n += v;
    return n;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool hold_ = false;
  int inCall_ = 0;
  std::map<std::string, int> calls_;
};

struct FakeClock {
  std::atomic<std::int64_t> ms{1'000'000};
  Enricher::Clock::time_point operator()() const {
    return Enricher::Clock::time_point(std::chrono::milliseconds(ms.load()));
  }
  void advance(std::chrono::milliseconds d) { ms += d.count(); }
};

class DnsTest : public ::testing::Test {
 protected:
  DnsTest() {
    fake_.names = {{"127.0.0.1", "localhost"},
                   {"127.0.0.2", "two.test"},
                   {"127.0.0.3", "three.test"},
                   {"127.0.0.4", "four.test"},
                   {"127.0.0.5", "bad name!"}};
  }
  Enricher::Options options() {
    Enricher::Options o;
    o.reverseDns = true;
    o.resolve = [this](const std::string& ip) { return fake_(ip); };
    o.clock = [this] { return clock_(); };
    o.cacheTtl = 60s;
    o.negativeTtl = 10s;
    return o;
  }
  FakeResolver fake_;
  FakeClock clock_;
};

TEST_F(DnsTest, ResolvesAsynchronouslyAndReportsOnce) {
  Enricher e(options());
  EXPECT_EQ(e.cachedHostname("127.0.0.2"), std::nullopt);
  e.requestHostname("127.0.0.2");
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_EQ(e.cachedHostname("127.0.0.2"), std::optional<std::string>("two.test"));
  auto got = e.takeResolved();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, "127.0.0.2");
  EXPECT_EQ(got[0].second, "two.test");
  EXPECT_TRUE(e.takeResolved().empty());  // taken once
}

TEST_F(DnsTest, EnrichReturnsCachedNameOrRequestsIt) {
  Enricher e(options());
  EXPECT_EQ(e.enrich("127.0.0.3").hostname, "");  // not yet: requested
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_EQ(e.enrich("127.0.0.3").hostname, "three.test");
  EXPECT_EQ(fake_.calls("127.0.0.3"), 1);
}

TEST_F(DnsTest, ConcurrentRequestsForOneIpAreDeduplicated) {
  auto o = options();
  o.resolverThreads = 2;
  Enricher e(o);
  fake_.hold();
  e.requestHostname("127.0.0.2");
  ASSERT_TRUE(fake_.waitInCall(1));
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&] {
      for (int j = 0; j < 25; ++j) e.requestHostname("127.0.0.2");
    });
  for (auto& t : ts) t.join();
  fake_.release();
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_EQ(fake_.calls("127.0.0.2"), 1);
  EXPECT_EQ(e.stats().deduped.load(), 100u);
  EXPECT_EQ(e.takeResolved().size(), 1u);
}

TEST_F(DnsTest, QueuedRequestsAreDeduplicatedToo) {
  auto o = options();
  Enricher e(o);
  fake_.hold();
  e.requestHostname("127.0.0.1");
  ASSERT_TRUE(fake_.waitInCall(1));
  e.requestHostname("127.0.0.3");  // queued behind the held one
  e.requestHostname("127.0.0.3");
  e.requestHostname("127.0.0.3");
  fake_.release();
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_EQ(fake_.calls("127.0.0.3"), 1);
  EXPECT_EQ(e.stats().deduped.load(), 2u);
}

TEST_F(DnsTest, CacheHitDoesNotResolveAgain) {
  Enricher e(options());
  e.requestHostname("127.0.0.4");
  ASSERT_TRUE(e.waitIdle(5s));
  for (int i = 0; i < 10; ++i) e.requestHostname("127.0.0.4");
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_EQ(fake_.calls("127.0.0.4"), 1);
  EXPECT_EQ(e.stats().cacheHits.load(), 10u);
}

TEST_F(DnsTest, NegativeAnswersAreCachedForTheNegativeTtl) {
  Enricher e(options());
  e.requestHostname("127.0.0.9");  // not in the table
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_EQ(e.cachedHostname("127.0.0.9"), std::optional<std::string>(""));
  EXPECT_TRUE(e.takeResolved().empty());  // negative answers are not reported
  e.requestHostname("127.0.0.9");
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_EQ(fake_.calls("127.0.0.9"), 1);
  clock_.advance(11s);  // past the negative TTL, well within the positive one
  EXPECT_EQ(e.cachedHostname("127.0.0.9"), std::nullopt);
  e.requestHostname("127.0.0.9");
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_EQ(fake_.calls("127.0.0.9"), 2);
}

TEST_F(DnsTest, ImplausibleNamesAndThrowingResolversCountAsNoName) {
  auto o = options();
  o.resolve = [this](const std::string& ip) -> std::string {
    if (ip == "127.0.0.6") throw std::runtime_error("boom");
    return fake_(ip);
  };
  Enricher e(o);
  e.requestHostname("127.0.0.5");
  e.requestHostname("127.0.0.6");
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_EQ(e.cachedHostname("127.0.0.5"), std::optional<std::string>(""));
  EXPECT_EQ(e.cachedHostname("127.0.0.6"), std::optional<std::string>(""));
  EXPECT_TRUE(e.takeResolved().empty());
  EXPECT_EQ(e.stats().notFound.load(), 2u);
}

TEST_F(DnsTest, PositiveTtlExpiresWithTheClock) {
  Enricher e(options());
  e.requestHostname("127.0.0.2");
  ASSERT_TRUE(e.waitIdle(5s));
  clock_.advance(59s);
  EXPECT_EQ(e.cachedHostname("127.0.0.2"), std::optional<std::string>("two.test"));
  clock_.advance(1s);
  EXPECT_EQ(e.cachedHostname("127.0.0.2"), std::nullopt);
  fake_.names["127.0.0.2"] = "renamed.test";
  e.requestHostname("127.0.0.2");
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_EQ(e.cachedHostname("127.0.0.2"), std::optional<std::string>("renamed.test"));
  EXPECT_EQ(fake_.calls("127.0.0.2"), 2);
  auto got = e.takeResolved();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].second, "renamed.test");
}

TEST_F(DnsTest, FullQueueDropsAndCounts) {
  auto o = options();
  o.queueSize = 2;
  Enricher e(o);
  fake_.hold();
  e.requestHostname("127.0.0.1");
  ASSERT_TRUE(fake_.waitInCall(1));  // taken off the queue, held in the resolver
  e.requestHostname("127.0.0.2");
  e.requestHostname("127.0.0.3");
  e.requestHostname("127.0.0.4");  // queue holds two: dropped
  EXPECT_EQ(e.stats().dropped.load(), 1u);
  fake_.release();
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_EQ(fake_.calls("127.0.0.4"), 0);
  EXPECT_EQ(e.takeResolved().size(), 3u);
  e.requestHostname("127.0.0.4");  // a dropped request can be made again
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_EQ(e.cachedHostname("127.0.0.4"), std::optional<std::string>("four.test"));
}

TEST_F(DnsTest, CacheIsBoundedLeastRecentlyUsedFirst) {
  auto o = options();
  o.cacheSize = 2;
  Enricher e(o);
  e.requestHostname("127.0.0.1");
  e.requestHostname("127.0.0.2");
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_TRUE(e.cachedHostname("127.0.0.1"));  // touch: .2 is now the oldest
  e.requestHostname("127.0.0.3");
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_TRUE(e.cachedHostname("127.0.0.1"));
  EXPECT_FALSE(e.cachedHostname("127.0.0.2"));
  EXPECT_TRUE(e.cachedHostname("127.0.0.3"));
}

TEST_F(DnsTest, ResolvedBacklogIsBounded) {
  auto o = options();
  o.resolvedBacklog = 2;
  Enricher e(o);
  for (const char* ip : {"127.0.0.1", "127.0.0.2", "127.0.0.3"}) e.requestHostname(ip);
  ASSERT_TRUE(e.waitIdle(5s));
  auto got = e.takeResolved();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].first, "127.0.0.2");
  EXPECT_EQ(e.stats().backlogDropped.load(), 1u);
}

TEST_F(DnsTest, NonNumericRequestsAreNeverResolved) {
  Enricher e(options());
  for (const char* ip : {"", "localhost", "example.com", "127.0.0.1 ", "::ffff:zz"}) e.requestHostname(ip);
  ASSERT_TRUE(e.waitIdle(5s));
  EXPECT_EQ(fake_.totalCalls(), 0);
  EXPECT_EQ(e.stats().invalid.load(), 5u);
}

TEST_F(DnsTest, ReverseDnsOffDoesNothing) {
  auto o = options();
  o.reverseDns = false;
  Enricher e(o);
  e.requestHostname("127.0.0.1");
  EXPECT_EQ(e.cachedHostname("127.0.0.1"), std::nullopt);
  EXPECT_TRUE(e.waitIdle(1s));
  EXPECT_EQ(fake_.totalCalls(), 0);
}

TEST_F(DnsTest, DestructionAbandonsQueuedLookups) {
  auto o = options();
  o.queueSize = 100;
  auto e = std::make_unique<Enricher>(o);
  fake_.hold();
  e->requestHostname("127.0.0.1");
  ASSERT_TRUE(fake_.waitInCall(1));
  for (int i = 2; i < 50; ++i) e->requestHostname("127.0.0." + std::to_string(i));
  auto done = std::async(std::launch::async, [&] { e.reset(); });
  EXPECT_EQ(done.wait_for(200ms), std::future_status::timeout);  // waits for the lookup in progress
  fake_.release();
  ASSERT_EQ(done.wait_for(5s), std::future_status::ready);
  EXPECT_LE(fake_.totalCalls(), 2);  // the held one, at most one more that raced the stop flag
}

// Many threads using every entry point at once, with two resolver threads (run under ASan/UBSan, and TSan).
TEST_F(DnsTest, ConcurrentUseIsSafe) {
  TempDir dir;
  Writer w(6);
  addNetworks(w, true);
  w.writeFile(dir.file("db.mmdb"));
  auto o = options();
  o.geoipPath = dir.file("db.mmdb");
  o.resolverThreads = 2;
  o.cacheSize = 8;
  o.queueSize = 4;
  o.resolve = [](const std::string& ip) { return ip.back() == '0' ? std::string() : "h" + ip.substr(8) + ".test"; };
  Enricher e(o);
  std::atomic<bool> go{false};
  std::atomic<std::size_t> taken{0}, regions{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      while (!go) std::this_thread::yield();
      for (int i = 0; i < 2000; ++i) {
        std::string ip = "127.0." + std::to_string(1 + (i + t) % 3) + "." + std::to_string((i * 7 + t) % 40);
        auto r = e.enrich(ip);
        if (!r.region.empty()) ++regions;
        if (i % 50 == 0) taken += e.takeResolved().size();
        if (i % 97 == 0) clock_.advance(61s);
      }
    });
  go = true;
  for (auto& t : ts) t.join();
  ASSERT_TRUE(e.waitIdle(5s));
  taken += e.takeResolved().size();
  EXPECT_GT(regions.load(), 0u);
  EXPECT_GT(taken.load(), 0u);
  const auto& s = e.stats();
  EXPECT_EQ(s.requests.load(), s.cacheHits + s.deduped + s.dropped + s.lookups);
}

// The real resolver, on 127.0.0.1 only: /etc/hosts answers it (nsswitch "files" first), so no DNS query leaves.
TEST(DnsSystem, LoopbackResolvesFromHostsFileOrNotAtAll) {
  std::set<std::string> hostsNames;
  {
    std::ifstream f("/etc/hosts");
    std::string line;
    while (std::getline(f, line)) {
      std::istringstream in(line.substr(0, line.find('#')));
      std::string addr, name;
      if (!(in >> addr) || addr != "127.0.0.1") continue;
      while (in >> name) hostsNames.insert(name);
    }
  }
  Enricher::Options o;
  o.reverseDns = true;
  o.lookupTimeout = 1s;
  Enricher e(o);
  e.requestHostname("127.0.0.1");
  ASSERT_TRUE(e.waitIdle(10s));
  auto h = e.cachedHostname("127.0.0.1");
  ASSERT_TRUE(h.has_value());
  EXPECT_TRUE(h->empty() || h->find("localhost") != std::string::npos || hostsNames.count(*h)) << *h;
}

}  // namespace
