// RegistrationTracker and CdrTracker as pure functions of what the tap saw; CaptureWriter against a real store
// (what it must not remember after erasure and expiry).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "capture/cdr_tracker.h"
#include "capture/device_parser.h"
#include "capture/queue.h"
#include "capture/registration_tracker.h"
#include "capture/worker_capture.h"
#include "capture/writer.h"
#include "fixtures.h"
#include "store/store.h"

using namespace sipedge::capture;
using sipedge::proxy::Dialog;
using sipedge::proxy::DialogEnd;
using sipedge::proxy::DialogTable;
using sipedge::store::Disposition;

namespace {

RegisterSeen reg(const std::string& callId, std::uint32_t cseq, std::int64_t contactExpires, std::int64_t header = -1) {
  RegisterSeen r;
  r.time = 1000;
  r.callId = callId;
  r.cseq = cseq;
  r.tenant = "example.com";
  r.user = "100";
  r.contacts.push_back({"sip:100@192.168.1.5:5062", "<urn:uuid:1>", ";expires=60", contactExpires});
  r.expiresHeader = header;
  r.userAgent = "Yealink SIP-T46S 66.86.0.15";
  r.srcIp = "192.0.2.10";
  r.srcPort = 5062;
  r.transport = "udp";
  return r;
}

RegisterAnswered answer(const std::string& callId, std::uint32_t cseq, int status) {
  RegisterAnswered a;
  a.time = 1100;
  a.callId = callId;
  a.cseq = cseq;
  a.status = status;
  return a;
}

CallRequest invite(Millis t = 10'000) {
  CallRequest c;
  c.time = t;
  c.tenant = "example.com";
  c.owner = "100";
  c.callerId = "100";
  c.source = "100";
  c.destination = "200";
  c.context = "access->core";
  c.srcChannel = "udp:192.0.2.10:5062";
  c.dstChannel = "udp:10.0.0.2:5080";
  return c;
}

// What a worker wires together: the proxy's dialog table, whose ended dialogs become CDRs. The caller's tag is
// a1, the callee's b1.
struct Calls {
  explicit Calls(Millis maxDuration = 3600'000, Millis setupTimeout = 300'000)
      : table({setupTimeout, maxDuration, 100}, [this](const Dialog& d, DialogEnd why, Millis now) {
          if (auto c = cdrs.close(d, why, now)) closed.push_back(*c);
        }) {}
  // The initial INVITE, forwarded on leg c.context (again: a retransmission).
  void invite(const std::string& callId, const CallRequest& c) {
    bool created = false;
    Dialog* d = table.open(callId, "a1", c.context, c.time, created);
    if (d && created) cdrs.open(*d, c);
  }
  void final(const std::string& callId, int status, Millis t) { table.onInviteResponse(callId, "a1", "b1", status, t); }
  void inDialog(const std::string& method, const std::string& callId, Millis t, bool fromCallee = false) {
    std::string from = fromCallee ? "b1" : "a1";
    std::string to = fromCallee ? "a1" : (method == "CANCEL" ? "" : "b1");
    table.onRequest(method, callId, from, to, t);
  }

  CdrTracker cdrs{0};
  std::vector<CdrRecord> closed;
  DialogTable table;
};

}  // namespace

TEST(RegistrationTracker, OnlyA2xxMakesARegistration) {
  RegistrationTracker t(10, 32000);
  ASSERT_TRUE(t.onRequest(reg("r1", 1, 3600)));
  std::vector<RegistrationEvent> out;
  t.onResponse(answer("r1", 1, 401), out);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(t.pending(), 0u);
  ASSERT_TRUE(t.onRequest(reg("r1", 2, 3600)));
  auto a = answer("r1", 2, 200);
  a.granted.push_back({"sip:100@192.168.1.5:5062", "", "", 1800});  // the registrar shortened it
  t.onResponse(a, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].expires, 1800);
  EXPECT_EQ(out[0].user, "100");
  EXPECT_EQ(out[0].instance, "<urn:uuid:1>");
  EXPECT_EQ(out[0].srcIp, "192.0.2.10");
  EXPECT_EQ(out[0].time, 1100);
}

TEST(RegistrationTracker, UnregisterForms) {
  RegistrationTracker t(10, 32000);
  std::vector<RegistrationEvent> out;
  t.onRequest(reg("u1", 1, 0));  // ;expires=0
  t.onResponse(answer("u1", 1, 200), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].expires, 0);
  out.clear();
  t.onRequest(reg("u2", 1, -1, 0));  // Expires: 0
  auto a = answer("u2", 1, 200);
  a.expiresHeader = 3600;  // a confused registrar cannot turn an unregister into a registration
  t.onResponse(a, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].expires, 0);
  out.clear();
  auto w = reg("u3", 1, -1, 0);
  w.contacts.clear();
  w.wildcard = true;
  t.onRequest(std::move(w));
  t.onResponse(answer("u3", 1, 200), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].wildcard);
}

TEST(RegistrationTracker, BoundedAndExpires) {
  RegistrationTracker t(2, 1000);
  EXPECT_TRUE(t.onRequest(reg("a", 1, 60)));
  EXPECT_TRUE(t.onRequest(reg("a", 1, 60)));  // retransmission
  EXPECT_TRUE(t.onRequest(reg("b", 1, 60)));
  EXPECT_FALSE(t.onRequest(reg("c", 1, 60)));
  t.expire(1000 + 1001);
  EXPECT_EQ(t.pending(), 0u);
  EXPECT_TRUE(t.onRequest(reg("c", 1, 60)));
}

TEST(CdrTracker, AnsweredCallClosesAtBye) {
  Calls t;
  t.invite("c1", invite());
  t.invite("c1", invite(10'500));  // retransmission
  t.final("c1", 200, 12'000);
  EXPECT_TRUE(t.closed.empty());
  t.inDialog("BYE", "c1", 42'900, true);  // the callee hangs up
  ASSERT_EQ(t.closed.size(), 1u);
  const auto& c = t.closed[0];
  EXPECT_EQ(c.disposition, Disposition::Answered);
  EXPECT_EQ(c.start, 10'000);
  EXPECT_EQ(c.answer, 12'000);
  EXPECT_EQ(c.end, 42'900);
  EXPECT_EQ(c.billsec, 30);
  EXPECT_EQ(c.lastApp, "BYE");
  EXPECT_EQ(c.lastData, "200");
  EXPECT_EQ(c.user, "100");
  EXPECT_FALSE(c.uniqueId.empty());
  EXPECT_EQ(t.table.size(), 0u);
}

TEST(CdrTracker, FailureDispositions) {
  struct Case {
    int status;
    bool cancel;
    Disposition want;
  } cases[] = {{486, false, Disposition::Busy},     {603, false, Disposition::Busy},
               {480, false, Disposition::NoAnswer}, {408, false, Disposition::NoAnswer},
               {487, true, Disposition::Cancelled}, {404, false, Disposition::Failed},
               {503, false, Disposition::Failed}};
  for (auto& k : cases) {
    Calls t;
    t.invite("f", invite());
    if (k.cancel) t.inDialog("CANCEL", "f", 11'000);
    t.final("f", k.status, 12'000);
    ASSERT_EQ(t.closed.size(), 1u) << k.status;
    EXPECT_EQ(t.closed[0].disposition, k.want) << k.status;
    EXPECT_EQ(t.closed[0].billsec, 0);
    EXPECT_EQ(t.closed[0].lastData, std::to_string(k.status));
    EXPECT_EQ(t.closed[0].lastApp, k.cancel ? "CANCEL" : "INVITE");
  }
}

TEST(CdrTracker, CallWithoutByeIsClosedByMaxDuration) {
  Calls t(60'000, 30'000);
  t.invite("long", invite());
  t.final("long", 200, 11'000);
  t.invite("ring", invite(10'000));
  t.table.sweep(45'000);  // "ring" never answered: setup timeout
  ASSERT_EQ(t.closed.size(), 1u);
  EXPECT_EQ(t.closed[0].destination, "200");
  EXPECT_EQ(t.closed[0].disposition, Disposition::TimedOut);
  t.closed.clear();
  t.table.sweep(71'000);
  ASSERT_EQ(t.closed.size(), 1u);
  EXPECT_EQ(t.closed[0].billsec, 60);
  EXPECT_EQ(t.closed[0].disposition, Disposition::TimedOut);
  EXPECT_EQ(t.table.size(), 0u);
}

TEST(CdrTracker, TwoLegsOfOneCallThroughAProxyPbx) {
  Calls t;
  t.invite("x", invite());
  auto leg2 = invite(10'050);
  leg2.context = "core->access";
  leg2.owner = "200";
  t.invite("x", leg2);
  t.final("x", 200, 12'000);
  t.inDialog("BYE", "x", 20'000);
  ASSERT_EQ(t.closed.size(), 2u);
  EXPECT_NE(t.closed[0].uniqueId, t.closed[1].uniqueId);
  EXPECT_EQ(t.closed[0].user, "100");
  EXPECT_EQ(t.closed[1].user, "200");
}

TEST(SpscQueue, RefusesWhenFull) {
  SpscQueue<int> q(3);  // rounded to 4
  EXPECT_EQ(q.capacity(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(q.push(int(i)));
  EXPECT_FALSE(q.push(99));
  EXPECT_EQ(*q.pop(), 0);
  EXPECT_TRUE(q.push(4));
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(*q.pop(), i);
  EXPECT_FALSE(q.pop());
}

// ---- CaptureWriter against a real store: what it must not remember --------------------------------------

namespace {

class WriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    writer_ =
        std::make_unique<CaptureWriter>(*db_, parser_, std::vector<WorkerCapture*>{&cap_}, CaptureWriter::Options{});
    writer_->start();
  }
  void TearDown() override { writer_.reset(); }
  RegistrationEvent registration(Millis t, std::int64_t expires = 3600) {
    RegistrationEvent r = fixtures::registration(t, "sip:100@192.168.1.5:5062", "192.0.2.10", 5062, expires);
    r.instance = "<urn:uuid:1>";
    r.userAgent = "Yealink SIP-T46S 66.86.0.15";
    return r;
  }
  // Pushes, then waits until the writer has written all of it.
  void feed(std::vector<CaptureEvent> events) {
    const auto before = writer_->stats().events.load();
    for (auto& e : events) ASSERT_TRUE(cap_.queue.push(std::move(e)));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (writer_->stats().events.load() < before + events.size() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ASSERT_EQ(writer_->stats().events.load(), before + events.size());
  }
  std::vector<sipedge::store::DeviceRecord> devices() { return db_->devices("example.com", "100"); }
  std::vector<sipedge::store::IpLogEntry> ipLog() { return db_->ipLog("example.com", "100"); }
  // Replaces the writer with one coalescing refreshes within `interval`.
  void coalescing(std::chrono::milliseconds interval) {
    writer_.reset();
    CaptureWriter::Options o;
    o.refreshWriteInterval = interval;
    writer_ = std::make_unique<CaptureWriter>(*db_, parser_, std::vector<WorkerCapture*>{&cap_}, o);
    writer_->start();
  }
  // A job on the writer thread: pending refreshes are written before it runs.
  void runJob() {
    auto f = writer_->submit([](sipedge::store::Store&) { return std::string(); });
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  }
  static Millis wallNow() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  fixtures::TempStore db_{"sipedge-writer-test"};
  DeviceParser parser_ = DeviceParser::fromText(builtinDeviceTable(), "built-in");
  WorkerCapture cap_{0, 1024};
  std::unique_ptr<CaptureWriter> writer_;
};

TEST_F(WriterTest, ReRegisterKeepsFirstSeen) {
  feed({registration(1'000'000)});
  feed({registration(2'000'000)});
  auto d = devices();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].firstSeen, 1'000'000);
  EXPECT_EQ(d[0].lastSeen, 2'000'000);
}

TEST_F(WriterTest, AfterEraseARegistrationStartsFresh) {
  feed({registration(1'000'000)});
  auto erased = writer_->submit(
      [](sipedge::store::Store& s) { return std::to_string(s.eraseUser("example.com", "100", "operator")); });
  ASSERT_EQ(erased.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(erased.get(), "2");  // the IP-log row and the device
  feed({registration(5'000'000)});
  auto d = devices();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].firstSeen, 5'000'000);  // nothing of the erased device survives in the writer
  auto log = db_->ipLog("example.com", "100");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].count, 1u);
  EXPECT_EQ(log[0].firstSeen, 5'000'000);
}

TEST_F(WriterTest, AfterExpiryARegistrationStartsFresh) {
  feed({registration(1'000'000, 60)});
  auto swept = writer_->submit(
      [](sipedge::store::Store& s) { return std::to_string(s.sweepExpiredDevices(1'000'000 + 61'000)); });
  ASSERT_EQ(swept.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(swept.get(), "1");
  feed({registration(9'000'000)});
  auto d = devices();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].firstSeen, 9'000'000);
}

TEST_F(WriterTest, WildcardInTheSameDrainRemovesTheDevice) {
  RegistrationEvent star = registration(1'000'100, 0);
  star.contact = "*";
  star.instance.clear();
  star.wildcard = true;
  feed({registration(1'000'000), std::move(star)});
  EXPECT_TRUE(devices().empty());
}

// ---- refresh coalescing ----------------------------------------------------------------------------------

TEST_F(WriterTest, UnchangedRefreshesAreWrittenLaterAsOne) {
  coalescing(std::chrono::seconds(600));
  const Millis t0 = wallNow();
  feed({registration(t0), registration(t0 + 1000), registration(t0 + 2000)});
  // The first REGISTER is written at once; the two refreshes wait.
  auto log = ipLog();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].count, 1u);
  EXPECT_EQ(log[0].event, "new-ip");
  ASSERT_EQ(devices().size(), 1u);
  EXPECT_EQ(devices()[0].lastSeen, t0);
  EXPECT_EQ(writer_->stats().refreshesCoalesced.load(), 2u);
  runJob();  // management reads see the latest refresh
  log = ipLog();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].count, 3u);
  EXPECT_EQ(log[0].firstSeen, t0);
  EXPECT_EQ(log[0].lastSeen, t0 + 2000);
  EXPECT_EQ(log[0].event, "register");
  auto d = devices();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].firstSeen, t0);
  EXPECT_EQ(d[0].lastSeen, t0 + 2000);
  EXPECT_EQ(d[0].expiresAt, t0 + 2000 + 3600 * 1000);
}

TEST_F(WriterTest, AChangedDeviceOrAddressIsWrittenAtOnce) {
  coalescing(std::chrono::seconds(600));
  const Millis t0 = wallNow();
  RegistrationEvent upgraded = registration(t0 + 1000);
  upgraded.userAgent = "Yealink SIP-T46S 66.86.0.20";
  RegistrationEvent moved = registration(t0 + 2000);
  moved.userAgent = upgraded.userAgent;
  moved.srcPort = 6000;
  feed({registration(t0), std::move(upgraded), std::move(moved)});
  auto d = devices();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].firmware, "66.86.0.20");
  EXPECT_EQ(d[0].port, 6000);
  EXPECT_EQ(d[0].lastSeen, t0 + 2000);
  auto log = ipLog();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].count, 3u);
  EXPECT_EQ(writer_->stats().refreshesCoalesced.load(), 0u);
}

TEST_F(WriterTest, AnUnregisterWritesThePendingRefreshFirst) {
  coalescing(std::chrono::seconds(600));
  const Millis t0 = wallNow();
  feed({registration(t0), registration(t0 + 1000), registration(t0 + 2000, 0)});
  EXPECT_TRUE(devices().empty());
  auto log = ipLog();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].count, 3u);
  EXPECT_EQ(log[0].lastSeen, t0 + 2000);
  EXPECT_EQ(log[0].event, "unregister");
}

TEST_F(WriterTest, StopWritesPendingRefreshes) {
  coalescing(std::chrono::seconds(600));
  const Millis t0 = wallNow();
  feed({registration(t0), registration(t0 + 1000)});
  writer_.reset();
  auto log = ipLog();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].count, 2u);
  EXPECT_EQ(log[0].lastSeen, t0 + 1000);
}

TEST_F(WriterTest, ARefreshIsWrittenBeforeTheStoredExpiryPasses) {
  coalescing(std::chrono::seconds(600));
  const Millis t0 = wallNow();
  // Expires 3 s: the refresh must reach the store before t0 + 3 s, when a sweep would delete the device,
  // although the interval is ten minutes.
  feed({registration(t0, 3), registration(t0 + 500, 3)});
  EXPECT_EQ(devices()[0].expiresAt, t0 + 3000);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (devices()[0].expiresAt != t0 + 3500 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(devices()[0].expiresAt, t0 + 3500);
  EXPECT_LT(wallNow(), t0 + 3000);  // written in time, not merely eventually
}

TEST_F(WriterTest, AfterAJobEveryBindingIsWrittenInFull) {
  coalescing(std::chrono::seconds(600));
  const Millis t0 = wallNow();
  feed({registration(t0)});
  auto erased = writer_->submit(
      [](sipedge::store::Store& s) { return std::to_string(s.eraseUser("example.com", "100", "operator")); });
  ASSERT_EQ(erased.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  feed({registration(t0 + 1000)});  // still registered: it comes back at once, not after the interval
  auto d = devices();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].firstSeen, t0 + 1000);
}

}  // namespace
