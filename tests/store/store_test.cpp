// Store tests: round trips, upsert and device semantics, retention (explicit and by compaction), export/erase
// (P5), key handling, the at-rest plaintext grep, secondary reads, and the kill -9 bound.
#include "store/store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace fs = std::filesystem;
using namespace sipedge::store;
using namespace std::chrono_literals;

namespace {

constexpr Millis kDay = 24LL * 3600 * 1000;
constexpr Millis kT0 = 1'700'000'000'000;  // 2023-11-14

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sipedge-store-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    clock_->store(kT0);
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  StoreOptions options() const {
    StoreOptions o;
    o.path = dir_ + "/db";
    o.keyFile = dir_ + "/keys/store.key";
    auto c = clock_;
    o.clock = [c] { return c->load(); };
    return o;
  }
  Store& open(StoreOptions o) {
    store_.reset();
    store_ = Store::open(o);
    return *store_;
  }
  Store& open() { return open(options()); }
  void write(const Batch& b) {
    std::string err;
    ASSERT_TRUE(store_->write(b, &err)) << err;
  }

  std::string dir_;
  std::shared_ptr<std::atomic<Millis>> clock_ = std::make_shared<std::atomic<Millis>>(kT0);
  std::unique_ptr<Store> store_;
};

IpLogEntry ipEntry(std::string user, std::string ip, Millis t, std::uint16_t port = 5060) {
  IpLogEntry e;
  e.tenant = "example.com";
  e.user = std::move(user);
  e.ip = std::move(ip);
  e.port = port;
  e.transport = "udp";
  e.firstSeen = t;
  e.lastSeen = t;
  e.event = "register";
  return e;
}

DeviceRecord device(std::string user, std::string instance, std::string mac, Millis expiresAt) {
  DeviceRecord d;
  d.tenant = "example.com";
  d.user = std::move(user);
  d.instance = std::move(instance);
  d.userAgent = "Yealink SIP-T46S 66.85.0.5";
  d.brand = "Yealink";
  d.model = "SIP-T46S";
  d.firmware = "66.85.0.5";
  d.mac = std::move(mac);
  d.ip = "198.51.100.23";
  d.port = 5062;
  d.transport = "tcp";
  d.firstSeen = kT0;
  d.lastSeen = kT0;
  d.expiresAt = expiresAt;
  return d;
}

CdrRecord cdr(std::string user, std::string id, Millis start) {
  CdrRecord c;
  c.uniqueId = std::move(id);
  c.tenant = "example.com";
  c.user = std::move(user);
  c.callerId = "+4930123456";
  c.source = "+4930123456";
  c.destination = "+4989654321";
  c.context = "access->carrier";
  c.srcChannel = "udp:192.0.2.10:5060";
  c.dstChannel = "tcp:192.0.2.99:5060";
  c.lastApp = "BYE";
  c.lastData = "200";
  c.start = start;
  c.answer = start + 2000;
  c.end = start + 62000;
  c.billsec = 60;
  c.disposition = Disposition::Answered;
  return c;
}

AuditRecord auditRec(Millis t, std::string target) {
  return {t, "operator", "hide-cdr", std::move(target), "ok"};
}

// ---- round trips ------------------------------------------------------------------------------------------

TEST_F(StoreTest, RoundTripsEveryKind) {
  auto& s = open();
  IpLogEntry e = ipEntry("alice", "203.0.113.7", kT0);
  e.hostname = "host.example.net";
  e.region = "DE-BE";
  e.isp = "Example ISP";
  DeviceRecord d = device("alice", "urn:uuid:1", "00:15:65:aa:bb:cc", kT0 + 3600000);
  CdrRecord c = cdr("alice", "call-1@pbx", kT0);
  c.disposition = Disposition::TimedOut;
  c.answer = 0;
  Batch b;
  b.upsertIpLog(e);
  b.putDevice(d);
  b.putCdr(c);
  b.audit(auditRec(kT0, "call-1@pbx"));
  write(b);
  ASSERT_TRUE(s.addProvisioned({"00:15:65:AA:BB:CC", "example.com", "alice", "SIP-T46S", kT0}));

  auto log = s.ipLog("example.com", "alice");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].tenant, "example.com");
  EXPECT_EQ(log[0].ip, "203.0.113.7");
  EXPECT_EQ(log[0].port, 5060);
  EXPECT_EQ(log[0].transport, "udp");
  EXPECT_EQ(log[0].firstSeen, kT0);
  EXPECT_EQ(log[0].lastSeen, kT0);
  EXPECT_EQ(log[0].count, 1u);
  EXPECT_EQ(log[0].event, "new-ip");
  EXPECT_EQ(log[0].hostname, "host.example.net");
  EXPECT_EQ(log[0].region, "DE-BE");
  EXPECT_EQ(log[0].isp, "Example ISP");

  auto devs = s.devices("example.com", "alice");
  ASSERT_EQ(devs.size(), 1u);
  const auto& g = devs[0];
  EXPECT_EQ(g.instance, d.instance);
  EXPECT_EQ(g.userAgent, d.userAgent);
  EXPECT_EQ(g.brand, d.brand);
  EXPECT_EQ(g.model, d.model);
  EXPECT_EQ(g.firmware, d.firmware);
  EXPECT_EQ(g.mac, d.mac);
  EXPECT_EQ(g.ip, d.ip);
  EXPECT_EQ(g.port, d.port);
  EXPECT_EQ(g.transport, d.transport);
  EXPECT_EQ(g.firstSeen, d.firstSeen);
  EXPECT_EQ(g.lastSeen, d.lastSeen);
  EXPECT_EQ(g.expiresAt, d.expiresAt);
  EXPECT_EQ(s.allDevices().size(), 1u);

  auto calls = s.cdrs("example.com", "alice", false);
  ASSERT_EQ(calls.size(), 1u);
  const auto& r = calls[0];
  EXPECT_EQ(r.uniqueId, c.uniqueId);
  EXPECT_EQ(r.callerId, c.callerId);
  EXPECT_EQ(r.source, c.source);
  EXPECT_EQ(r.destination, c.destination);
  EXPECT_EQ(r.context, c.context);
  EXPECT_EQ(r.srcChannel, c.srcChannel);
  EXPECT_EQ(r.dstChannel, c.dstChannel);
  EXPECT_EQ(r.lastApp, c.lastApp);
  EXPECT_EQ(r.lastData, c.lastData);
  EXPECT_EQ(r.start, c.start);
  EXPECT_EQ(r.answer, 0);
  EXPECT_EQ(r.end, c.end);
  EXPECT_EQ(r.billsec, c.billsec);
  EXPECT_EQ(r.disposition, Disposition::TimedOut);
  EXPECT_FALSE(r.hiddenByUser);
  EXPECT_FALSE(r.legalHold);

  auto audit = s.auditLog();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].time, kT0);
  EXPECT_EQ(audit[0].actor, "operator");
  EXPECT_EQ(audit[0].operation, "hide-cdr");
  EXPECT_EQ(audit[0].target, "call-1@pbx");
  EXPECT_EQ(audit[0].result, "ok");

  auto prov = s.provisioned();
  ASSERT_EQ(prov.size(), 1u);
  EXPECT_EQ(prov[0].mac, "00:15:65:aa:bb:cc");  // normalised
  EXPECT_EQ(prov[0].user, "alice");
  EXPECT_EQ(prov[0].model, "SIP-T46S");
  EXPECT_EQ(prov[0].addedAt, kT0);
  EXPECT_TRUE(s.isProvisioned("001565AABBCC"));
  EXPECT_FALSE(s.addProvisioned({"not-a-mac", "example.com", "alice", "", kT0}));
  EXPECT_FALSE(s.isProvisioned("00:15:65:aa:bb:cd"));
  ASSERT_TRUE(s.addProvisioned({"00:15:65:00:00:99", "", "", "", kT0}));  // from config: no owner

  auto users = s.users();
  ASSERT_EQ(users.size(), 1u);  // the ownerless MAC is nobody's
  EXPECT_EQ(users[0], std::make_pair(std::string("example.com"), std::string("alice")));
  EXPECT_EQ(dispositionName(Disposition::NoAnswer), "NO ANSWER");
}

TEST_F(StoreTest, CdrsComeInTimeOrderAndReputKeepsFlags) {
  auto& s = open();
  Batch b;
  b.putCdr(cdr("alice", "c3", kT0 + 3000));
  b.putCdr(cdr("alice", "c1", kT0 + 1000));
  b.putCdr(cdr("alice", "c2", kT0 + 2000));
  write(b);
  auto calls = s.cdrs("example.com", "alice", true);
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].uniqueId, "c1");
  EXPECT_EQ(calls[2].uniqueId, "c3");
  ASSERT_TRUE(s.setCdrLegalHold("c2", true));
  Batch again;
  CdrRecord c2 = cdr("alice", "c2", kT0 + 2000);
  c2.lastData = "486";
  again.putCdr(c2);
  write(again);
  calls = s.cdrs("example.com", "alice", true);
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[1].lastData, "486");
  EXPECT_TRUE(calls[1].legalHold);
}

// ---- ip log upsert ---------------------------------------------------------------------------------------

TEST_F(StoreTest, IpLogUpsertCountsRepeatsPerUserAndIp) {
  auto& s = open();
  {
    Batch b;
    b.upsertIpLog(ipEntry("alice", "203.0.113.7", kT0));
    write(b);
  }
  {
    Batch b;  // two repeats in one batch: the second must see the first
    IpLogEntry r = ipEntry("alice", "203.0.113.7", kT0 + 60000, 5070);
    r.transport = "tcp";
    b.upsertIpLog(r);
    r.lastSeen = kT0 + 120000;
    r.firstSeen = kT0 + 120000;
    b.upsertIpLog(r);
    b.upsertIpLog(ipEntry("alice", "198.51.100.1", kT0 + 130000));
    b.upsertIpLog(ipEntry("bob", "203.0.113.7", kT0 + 140000));
    write(b);
  }
  auto log = s.ipLog("example.com", "alice");
  ASSERT_EQ(log.size(), 2u);
  const auto& first = log[0];
  EXPECT_EQ(first.ip, "203.0.113.7");
  EXPECT_EQ(first.count, 3u);
  EXPECT_EQ(first.firstSeen, kT0);
  EXPECT_EQ(first.lastSeen, kT0 + 120000);
  EXPECT_EQ(first.port, 5070);
  EXPECT_EQ(first.transport, "tcp");
  EXPECT_EQ(first.event, "register");
  EXPECT_EQ(log[1].ip, "198.51.100.1");
  EXPECT_EQ(log[1].count, 1u);
  EXPECT_EQ(log[1].event, "new-ip");
  auto bob = s.ipLog("example.com", "bob");
  ASSERT_EQ(bob.size(), 1u);
  EXPECT_EQ(bob[0].count, 1u);
  EXPECT_EQ(bob[0].event, "new-ip");
  EXPECT_TRUE(s.ipLog("other.org", "alice").empty());
}

// ---- devices ---------------------------------------------------------------------------------------------

TEST_F(StoreTest, DeleteDeviceRemovesExactlyOne) {
  auto& s = open();
  Batch b;
  b.putDevice(device("alice", "urn:uuid:a1", "", kT0 + 3600000));
  b.putDevice(device("alice", "urn:uuid:a2", "", kT0 + 3600000));
  b.putDevice(device("bob", "urn:uuid:a1", "", kT0 + 3600000));  // same instance, other user
  write(b);
  Batch del;
  del.deleteDevice("example.com", "alice", "urn:uuid:a1");
  del.deleteDevice("example.com", "alice", "urn:uuid:nope");  // unknown: a no-op
  write(del);
  auto alice = s.devices("example.com", "alice");
  ASSERT_EQ(alice.size(), 1u);
  EXPECT_EQ(alice[0].instance, "urn:uuid:a2");
  ASSERT_EQ(s.devices("example.com", "bob").size(), 1u);
  EXPECT_EQ(s.allDevices().size(), 2u);
}

TEST_F(StoreTest, PutDeviceKeepsFirstSeen) {
  auto& s = open();
  Batch b;
  b.putDevice(device("alice", "urn:uuid:a1", "", kT0 + 3600000));
  write(b);
  DeviceRecord again = device("alice", "urn:uuid:a1", "", kT0 + 7200000);
  again.firstSeen = again.lastSeen = kT0 + 600000;
  Batch b2;
  b2.putDevice(again);
  write(b2);
  auto devs = s.devices("example.com", "alice");
  ASSERT_EQ(devs.size(), 1u);
  EXPECT_EQ(devs[0].firstSeen, kT0);
  EXPECT_EQ(devs[0].lastSeen, kT0 + 600000);
  EXPECT_EQ(devs[0].expiresAt, kT0 + 7200000);
}

TEST_F(StoreTest, SweepKeepsProvisionedDevices) {
  auto& s = open();
  ASSERT_TRUE(s.addProvisioned({"00:15:65:00:00:01", "example.com", "alice", "T46S", kT0}));
  Batch b;
  b.putDevice(device("alice", "expired-plain", "00:15:65:00:00:02", kT0 + 1000));
  b.putDevice(device("alice", "expired-provisioned", "00:15:65:00:00:01", kT0 + 1000));
  b.putDevice(device("alice", "live", "", kT0 + 3600000));
  write(b);
  EXPECT_EQ(s.sweepExpiredDevices(kT0 + 2000), 1u);
  auto devs = s.devices("example.com", "alice");
  std::set<std::string> left;
  for (const auto& d : devs) left.insert(d.instance);
  EXPECT_EQ(left, (std::set<std::string>{"expired-provisioned", "live"}));

  // Unregister of a provisioned device keeps it too; an operator removing the provisioning removes the device.
  Batch unreg;
  unreg.deleteDevice("example.com", "alice", "expired-provisioned");
  write(unreg);
  EXPECT_EQ(s.devices("example.com", "alice").size(), 2u);
  EXPECT_TRUE(s.removeProvisioned("00-15-65-00-00-01"));
  EXPECT_FALSE(s.removeProvisioned("00-15-65-00-00-01"));
  devs = s.devices("example.com", "alice");
  ASSERT_EQ(devs.size(), 1u);
  EXPECT_EQ(devs[0].instance, "live");
  EXPECT_TRUE(s.provisioned().empty());
}

// ---- retention -------------------------------------------------------------------------------------------

// Old and new rows of every retention kind, with the clock then moved to kT0 + 100 days.
void writeAged(Store& s, std::atomic<Millis>& clock) {
  Batch b;
  b.upsertIpLog(ipEntry("alice", "203.0.113.1", kT0));              // 100 days old at the end: > 90
  b.upsertIpLog(ipEntry("alice", "203.0.113.2", kT0 + 50 * kDay));  // 50 days
  b.putCdr(cdr("alice", "old", kT0 - 300 * kDay));                  // 400 days: > 365
  b.putCdr(cdr("alice", "held", kT0 - 300 * kDay));                 // 400 days, legal hold
  b.putCdr(cdr("alice", "new", kT0));                               // 100 days
  b.audit(auditRec(kT0 - 300 * kDay, "x"));                         // 400 days
  b.audit(auditRec(kT0, "y"));
  std::string err;
  ASSERT_TRUE(s.write(b, &err)) << err;
  ASSERT_TRUE(s.setCdrLegalHold("held", true));
  s.flush();
  clock.store(kT0 + 100 * kDay);
}

void expectAgedGone(Store& s) {
  auto log = s.ipLog("example.com", "alice");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].ip, "203.0.113.2");
  auto calls = s.cdrs("example.com", "alice", true);
  std::set<std::string> ids;
  for (const auto& c : calls) ids.insert(c.uniqueId);
  EXPECT_EQ(ids, (std::set<std::string>{"held", "new"}));
  auto audit = s.auditLog();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].target, "y");
  // The expired CDR's index row went too: hiding it finds nothing.
  EXPECT_FALSE(s.setCdrHidden("old", true));
  EXPECT_TRUE(s.setCdrHidden("new", true));
}

TEST_F(StoreTest, EnforceRetentionRemovesOldRows) {
  auto& s = open();
  writeAged(s, *clock_);
  EXPECT_EQ(s.enforceRetention(), 3u);  // ip, cdr "old", audit
  expectAgedGone(s);
  EXPECT_EQ(s.enforceRetention(), 0u);
}

TEST_F(StoreTest, CompactionFilterRemovesOldRows) {
  auto& s = open();
  writeAged(s, *clock_);
  ASSERT_EQ(s.ipLog("example.com", "alice").size(), 2u);  // nothing happens until a compaction
  s.compactAll();
  expectAgedGone(s);
}

TEST_F(StoreTest, ZeroWindowKeepsForever) {
  StoreOptions o = options();
  o.retention.ipLog = 0h;
  auto& s = open(o);
  Batch b;
  b.upsertIpLog(ipEntry("alice", "203.0.113.1", kT0));
  write(b);
  clock_->store(kT0 + 1000 * kDay);
  EXPECT_EQ(s.enforceRetention(), 0u);
  s.compactAll();
  EXPECT_EQ(s.ipLog("example.com", "alice").size(), 1u);
}

TEST_F(StoreTest, OldestRecordAge) {
  auto& s = open();
  for (Kind k : {Kind::IpLog, Kind::Device, Kind::Provisioned, Kind::Cdr, Kind::Audit})
    EXPECT_FALSE(s.oldestRecordAge(k).has_value());
  writeAged(s, *clock_);
  EXPECT_EQ(s.oldestRecordAge(Kind::IpLog), 100 * kDay);
  EXPECT_EQ(s.oldestRecordAge(Kind::Cdr), 400 * kDay);  // "old"; the held one is left out
  EXPECT_EQ(s.oldestRecordAge(Kind::Audit), 400 * kDay);
  s.enforceRetention();
  EXPECT_EQ(s.oldestRecordAge(Kind::IpLog), 50 * kDay);
  EXPECT_EQ(s.oldestRecordAge(Kind::Cdr), 100 * kDay);
  EXPECT_EQ(s.oldestRecordAge(Kind::Audit), 100 * kDay);
  Batch b;
  b.putDevice(device("alice", "d", "", kT0 + 101 * kDay));
  write(b);
  EXPECT_EQ(s.oldestRecordAge(Kind::Device), 100 * kDay);  // now - lastSeen
}

// ---- hide, export, erase ---------------------------------------------------------------------------------

TEST_F(StoreTest, HiddenCdrOnlyInOperatorView) {
  auto& s = open();
  Batch b;
  b.putCdr(cdr("alice", "c1", kT0));
  b.putCdr(cdr("alice", "c2", kT0 + 1000));
  write(b);
  ASSERT_TRUE(s.setCdrHidden("c1", true));
  auto user = s.cdrs("example.com", "alice", false);
  ASSERT_EQ(user.size(), 1u);
  EXPECT_EQ(user[0].uniqueId, "c2");
  auto op = s.cdrs("example.com", "alice", true);
  ASSERT_EQ(op.size(), 2u);
  EXPECT_TRUE(op[0].hiddenByUser);
  EXPECT_FALSE(s.setCdrHidden("missing", true));
  ASSERT_TRUE(s.setCdrHidden("c1", false));
  EXPECT_EQ(s.cdrs("example.com", "alice", false).size(), 2u);
}

// Alice and Bob with one of everything each; Bob's values are distinct strings so the export can be checked
// for any trace of him.
void writeTwoUsers(Store& s) {
  Batch b;
  b.upsertIpLog(ipEntry("alice", "203.0.113.7", kT0));
  b.upsertIpLog(ipEntry("bob", "198.51.100.99", kT0));
  b.putDevice(device("alice", "urn:uuid:alice-phone", "00:15:65:00:00:0a", kT0 + kDay));
  DeviceRecord bd = device("bob", "urn:uuid:bob-phone", "00:04:f2:00:00:0b", kT0 + kDay);
  bd.userAgent = "PolycomVVX-VVX_450-UA/6.4.3.5018";
  bd.ip = "198.51.100.99";
  b.putDevice(bd);
  b.putCdr(cdr("alice", "alice-call-1", kT0));
  b.putCdr(cdr("alice", "alice-call-2", kT0 + 1000));
  b.putCdr(cdr("alice", "alice-billing", kT0 + 2000));
  CdrRecord bc = cdr("bob", "bob-call-1", kT0);
  bc.callerId = bc.source = "+4940777888";
  b.putCdr(bc);
  b.audit({kT0, "user:alice@example.com", "hide-cdr", "alice-call-2", "ok"});
  b.audit({kT0, "operator", "provision-add", "bob@example.com", "ok"});
  std::string err;
  ASSERT_TRUE(s.write(b, &err)) << err;
  ASSERT_TRUE(s.setCdrHidden("alice-call-2", true));
  ASSERT_TRUE(s.setCdrLegalHold("alice-billing", true));
  ASSERT_TRUE(s.addProvisioned({"00:15:65:00:00:0a", "example.com", "alice", "T46S", kT0}));
  ASSERT_TRUE(s.addProvisioned({"00:04:f2:00:00:0b", "example.com", "bob", "VVX450", kT0}));
}

TEST_F(StoreTest, ExportHasEverythingOfOneUserAndNothingOfAnother) {
  auto& s = open();
  writeTwoUsers(s);
  const std::string text = s.exportUser("example.com", "alice");
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["tenant"], "example.com");
  EXPECT_EQ(j["user"], "alice");
  ASSERT_EQ(j["ip_log"].size(), 1u);
  EXPECT_EQ(j["ip_log"][0]["ip"], "203.0.113.7");
  ASSERT_EQ(j["devices"].size(), 1u);
  EXPECT_EQ(j["devices"][0]["user_agent"], "Yealink SIP-T46S 66.85.0.5");
  EXPECT_EQ(j["devices"][0]["mac"], "00:15:65:00:00:0a");
  ASSERT_EQ(j["provisioned"].size(), 1u);
  ASSERT_EQ(j["cdrs"].size(), 3u);  // hidden one included, flagged
  int hidden = 0, held = 0;
  for (const auto& c : j["cdrs"]) {
    hidden += c["hidden_by_user"].get<bool>();
    held += c["legal_hold"].get<bool>();
    EXPECT_EQ(c["disposition"], "ANSWERED");
    EXPECT_EQ(c["caller_id"], "+4930123456");
  }
  EXPECT_EQ(hidden, 1);
  EXPECT_EQ(held, 1);
  ASSERT_EQ(j["audit"].size(), 1u);
  EXPECT_EQ(j["audit"][0]["actor"], "user:alice@example.com");
  for (const char* bobs : {"bob", "198.51.100.99", "Polycom", "00:04:f2", "+4940777888", "VVX450"})
    EXPECT_EQ(text.find(bobs), std::string::npos) << bobs;

  auto none = nlohmann::json::parse(s.exportUser("example.com", "nobody"));
  EXPECT_TRUE(none["ip_log"].empty() && none["devices"].empty() && none["cdrs"].empty() && none["audit"].empty());
}

TEST_F(StoreTest, EraseLeavesOnlyLegalHoldCdrsAndAnAuditRecord) {
  auto& s = open();
  writeTwoUsers(s);
  clock_->store(kT0 + 5000);
  // 1 ip row + 1 device + 2 CDRs + 1 provisioned entry.
  EXPECT_EQ(s.eraseUser("example.com", "alice", "operator:dpo"), 5u);
  EXPECT_TRUE(s.ipLog("example.com", "alice").empty());
  EXPECT_TRUE(s.devices("example.com", "alice").empty());
  auto calls = s.cdrs("example.com", "alice", true);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].uniqueId, "alice-billing");
  EXPECT_FALSE(s.isProvisioned("00:15:65:00:00:0a"));
  EXPECT_FALSE(s.setCdrHidden("alice-call-1", true));  // gone from the index too
  auto audit = s.auditLog();
  ASSERT_FALSE(audit.empty());
  const auto& last = audit.back();
  EXPECT_EQ(last.time, kT0 + 5000);
  EXPECT_EQ(last.actor, "operator:dpo");
  EXPECT_EQ(last.operation, "erase-user");
  EXPECT_EQ(last.target, "alice@example.com");
  EXPECT_NE(last.result.find("5 rows removed"), std::string::npos) << last.result;
  EXPECT_NE(last.result.find("1 legal-hold"), std::string::npos) << last.result;
  // Bob untouched.
  EXPECT_EQ(s.ipLog("example.com", "bob").size(), 1u);
  EXPECT_EQ(s.devices("example.com", "bob").size(), 1u);
  EXPECT_EQ(s.cdrs("example.com", "bob", true).size(), 1u);
  EXPECT_TRUE(s.isProvisioned("00:04:f2:00:00:0b"));
  // The erasure shows up in Alice's export (as does what is left).
  auto j = nlohmann::json::parse(s.exportUser("example.com", "alice"));
  EXPECT_EQ(j["cdrs"].size(), 1u);
  bool sawErase = false;
  for (const auto& a : j["audit"]) sawErase |= a["operation"] == "erase-user";
  EXPECT_TRUE(sawErase);
  auto users = s.users();
  EXPECT_EQ(users.size(), 2u);  // alice still has a held CDR
}

// ---- writer-side caches ------------------------------------------------------------------------------------
// write() keeps decoded IP-log rows and device first-seen in memory so upserts skip a read and a decryption.
// Every way a row leaves the database must leave the cache too, or a later upsert would bring erased or expired
// data (an old count, an old first-seen) back.

IpLogEntry onlyRow(Store& s, const std::string& user) {
  auto log = s.ipLog("example.com", user);
  EXPECT_EQ(log.size(), 1u);
  return log.empty() ? IpLogEntry{} : log[0];
}

void upsert(Store& s, const IpLogEntry& e) {
  Batch b;
  b.upsertIpLog(e);
  std::string err;
  ASSERT_TRUE(s.write(b, &err)) << err;
}

void put(Store& s, const DeviceRecord& d) {
  Batch b;
  b.putDevice(d);
  std::string err;
  ASSERT_TRUE(s.write(b, &err)) << err;
}

TEST_F(StoreTest, CachedUpsertsMatchUncached) {
  for (std::size_t rows : {std::size_t{0}, std::size_t{3}, std::size_t{1} << 17}) {  // off, tiny (evicting), default
    StoreOptions o = options();
    o.path = dir_ + "/db-" + std::to_string(rows);
    o.writeCacheRows = rows;
    auto& s = open(o);
    for (int round = 0; round < 4; ++round) {
      Batch b;
      for (int u = 0; u < 8; ++u) {
        b.upsertIpLog(ipEntry("u" + std::to_string(u), "203.0.113." + std::to_string(u % 3), kT0 + round * 1000 + u));
        DeviceRecord d = device("u" + std::to_string(u), "urn:uuid:" + std::to_string(u), "", kT0 + 3600000);
        d.firstSeen = d.lastSeen = kT0 + round * 1000 + u;
        b.putDevice(d);
      }
      write(b);
    }
    for (int u = 0; u < 8; ++u) {
      const std::string user = "u" + std::to_string(u);
      IpLogEntry e = onlyRow(s, user);
      EXPECT_EQ(e.count, 4u) << rows << " " << user;
      EXPECT_EQ(e.firstSeen, kT0 + u) << rows;
      EXPECT_EQ(e.lastSeen, kT0 + 3000 + u) << rows;
      EXPECT_EQ(e.event, "register") << rows;
      auto devs = s.devices("example.com", user);
      ASSERT_EQ(devs.size(), 1u);
      EXPECT_EQ(devs[0].firstSeen, kT0 + u) << rows;
    }
  }
}

TEST_F(StoreTest, EraseUserLeavesNothingForTheCacheToBringBack) {
  auto& s = open();
  upsert(s, ipEntry("alice", "203.0.113.7", kT0));
  upsert(s, ipEntry("alice", "203.0.113.7", kT0 + 1000));
  put(s, device("alice", "urn:uuid:a1", "", kT0 + 3600000));
  ASSERT_EQ(onlyRow(s, "alice").count, 2u);
  s.eraseUser("example.com", "alice", "operator");

  upsert(s, ipEntry("alice", "203.0.113.7", kT0 + 5000));
  IpLogEntry e = onlyRow(s, "alice");
  EXPECT_EQ(e.count, 1u);
  EXPECT_EQ(e.event, "new-ip");
  EXPECT_EQ(e.firstSeen, kT0 + 5000);
  DeviceRecord again = device("alice", "urn:uuid:a1", "", kT0 + 7200000);
  again.firstSeen = again.lastSeen = kT0 + 5000;
  put(s, again);
  auto devs = s.devices("example.com", "alice");
  ASSERT_EQ(devs.size(), 1u);
  EXPECT_EQ(devs[0].firstSeen, kT0 + 5000);
}

TEST_F(StoreTest, RetentionLeavesNothingForTheCacheToBringBack) {
  auto& s = open();
  upsert(s, ipEntry("alice", "203.0.113.7", kT0));
  upsert(s, ipEntry("bob", "203.0.113.8", kT0));
  clock_->store(kT0 + 100 * kDay);
  EXPECT_EQ(s.enforceRetention(), 2u);  // explicit pass
  upsert(s, ipEntry("alice", "203.0.113.7", kT0 + 100 * kDay));
  IpLogEntry e = onlyRow(s, "alice");
  EXPECT_EQ(e.count, 1u);
  EXPECT_EQ(e.event, "new-ip");
  EXPECT_EQ(e.firstSeen, kT0 + 100 * kDay);

  // By compaction (the background path): the filter drops the rows without the writer knowing which.
  upsert(s, ipEntry("bob", "203.0.113.8", kT0 + 100 * kDay));
  upsert(s, ipEntry("bob", "203.0.113.8", kT0 + 100 * kDay + 1));
  ASSERT_EQ(onlyRow(s, "bob").count, 2u);
  clock_->store(kT0 + 200 * kDay);
  s.compactAll();
  ASSERT_TRUE(s.ipLog("example.com", "bob").empty());
  upsert(s, ipEntry("bob", "203.0.113.8", kT0 + 200 * kDay));
  e = onlyRow(s, "bob");
  EXPECT_EQ(e.count, 1u);
  EXPECT_EQ(e.event, "new-ip");
  EXPECT_EQ(e.firstSeen, kT0 + 200 * kDay);
}

TEST_F(StoreTest, SweepAndDeprovisionLeaveNoFirstSeenBehind) {
  auto& s = open();
  put(s, device("alice", "urn:uuid:a1", "", kT0 + 1000));
  EXPECT_EQ(s.sweepExpiredDevices(kT0 + 2000), 1u);
  DeviceRecord again = device("alice", "urn:uuid:a1", "", kT0 + 7200000);
  again.firstSeen = again.lastSeen = kT0 + 3000;
  put(s, again);
  auto devs = s.devices("example.com", "alice");
  ASSERT_EQ(devs.size(), 1u);
  EXPECT_EQ(devs[0].firstSeen, kT0 + 3000);

  ASSERT_TRUE(s.addProvisioned({"00:15:65:00:00:01", "example.com", "alice", "T46S", kT0}));
  put(s, device("alice", "urn:uuid:p1", "00:15:65:00:00:01", kT0 + 7200000));
  ASSERT_TRUE(s.removeProvisioned("00:15:65:00:00:01"));
  DeviceRecord p1 = device("alice", "urn:uuid:p1", "", kT0 + 7200000);
  p1.firstSeen = p1.lastSeen = kT0 + 4000;
  put(s, p1);
  bool found = false;
  for (const auto& d : s.devices("example.com", "alice")) {
    if (d.instance != "urn:uuid:p1") continue;
    found = true;
    EXPECT_EQ(d.firstSeen, kT0 + 4000);
  }
  EXPECT_TRUE(found);

  // Unregister, then register again in the same batch and in the next one: first-seen restarts.
  Batch b;
  b.deleteDevice("example.com", "alice", "urn:uuid:p1");
  DeviceRecord p2 = p1;
  p2.firstSeen = p2.lastSeen = kT0 + 5000;
  b.putDevice(p2);
  write(b);
  for (const auto& d : s.devices("example.com", "alice")) {
    if (d.instance == "urn:uuid:p1") {
      EXPECT_EQ(d.firstSeen, kT0 + 5000);
    }
  }
}

// Raw access to one column family of a closed store (the tampering tests).
template <class F>
void withRawCf(const std::string& path, const std::string& cfName, F&& f) {
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfds;
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  for (const auto& n : names) cfds.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> hs;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, cfds, &hs, &raw).ok());
  for (auto* h : hs)
    if (h->GetName() == cfName) f(*raw, h);
  for (auto* h : hs) raw->DestroyColumnFamilyHandle(h);
  delete raw;
}

std::map<std::string, std::string> rawRows(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* h) {
  std::map<std::string, std::string> rows;
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions(), h));
  for (it->SeekToFirst(); it->Valid(); it->Next()) rows.emplace(it->key().ToString(), it->value().ToString());
  return rows;
}

TEST_F(StoreTest, AFailedWriteLeavesTheCacheAsTheDatabase) {
  upsert(open(), ipEntry("alice", "203.0.113.7", kT0));
  store_.reset();
  std::map<std::string, std::string> alice;
  withRawCf(options().path, "iplog", [&](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* h) { alice = rawRows(db, h); });
  ASSERT_EQ(alice.size(), 1u);
  upsert(open(), ipEntry("carol", "203.0.113.9", kT0));
  store_.reset();
  withRawCf(options().path, "iplog", [&](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* h) {
    for (const auto& [k, v] : rawRows(db, h)) {  // carol's row gets alice's value: it no longer authenticates
      if (!alice.count(k)) {
        ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), h, k, alice.begin()->second).ok());
      }
    }
  });

  auto& s = open();
  upsert(s, ipEntry("alice", "203.0.113.7", kT0 + 1000));  // count 2, now cached
  Batch bad;
  bad.upsertIpLog(ipEntry("alice", "203.0.113.7", kT0 + 2000));
  bad.upsertIpLog(ipEntry("carol", "203.0.113.9", kT0 + 2000));
  std::string err;
  EXPECT_FALSE(s.write(bad, &err));
  EXPECT_NE(err.find("authentication"), std::string::npos) << err;
  EXPECT_EQ(onlyRow(s, "alice").count, 2u);
  upsert(s, ipEntry("alice", "203.0.113.7", kT0 + 3000));
  EXPECT_EQ(onlyRow(s, "alice").count, 3u);  // not 4: the failed batch's count never reached the cache
}

// ---- keys and opening --------------------------------------------------------------------------------------

TEST_F(StoreTest, KeyFileIsCreated0600) {
  open();
  struct stat st {};
  ASSERT_EQ(::stat(options().keyFile.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
}

void expectStoreError(const StoreOptions& o, const std::string& fragment) {
  try {
    auto s = Store::open(o);
    ADD_FAILURE() << "opened; expected an error mentioning '" << fragment << "'";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST_F(StoreTest, WrongKeyIsAnError) {
  open();
  store_.reset();
  StoreOptions o = options();
  o.keyFile = dir_ + "/other.key";
  {
    std::ofstream f(o.keyFile, std::ios::binary);
    f << std::string(32, 'k');
  }
  ::chmod(o.keyFile.c_str(), 0600);
  expectStoreError(o, "wrong key");
  // The failed open released the store: the right key still opens it.
  EXPECT_NO_THROW(open());
}

TEST_F(StoreTest, MissingKeyForExistingStoreIsAnError) {
  open();
  store_.reset();
  fs::remove(options().keyFile);
  expectStoreError(options(), "missing");
  EXPECT_FALSE(fs::exists(options().keyFile));  // never silently replaced
}

TEST_F(StoreTest, LooseKeyPermissionsAreAnError) {
  open();
  store_.reset();
  ::chmod(options().keyFile.c_str(), 0644);
  expectStoreError(options(), "looser than 0600");
  ::chmod(options().keyFile.c_str(), 0640);
  expectStoreError(options(), "looser than 0600");
}

TEST_F(StoreTest, WrongKeySizeIsAnError) {
  StoreOptions o = options();
  fs::create_directories(fs::path(o.keyFile).parent_path());
  {
    std::ofstream f(o.keyFile, std::ios::binary);
    f << std::string(16, 'k');
  }
  ::chmod(o.keyFile.c_str(), 0600);
  expectStoreError(o, "exactly 32 bytes");
}

TEST_F(StoreTest, MissingStoreIsAnErrorForTools) {
  StoreOptions o = options();
  o.readOnly = true;
  expectStoreError(o, "store not found");
  o.readOnly = false;
  o.createIfMissing = false;
  expectStoreError(o, "store not found");
  EXPECT_FALSE(fs::exists(o.path));
  EXPECT_FALSE(fs::exists(o.keyFile));
}

TEST_F(StoreTest, ReopenKeepsData) {
  {
    auto& s = open();
    writeTwoUsers(s);
  }
  store_.reset();
  StoreOptions o = options();
  o.createIfMissing = false;
  auto& s = open(o);
  EXPECT_EQ(s.ipLog("example.com", "alice").size(), 1u);
  EXPECT_EQ(s.devices("example.com", "bob").size(), 1u);
  EXPECT_EQ(s.cdrs("example.com", "alice", false).size(), 2u);
  EXPECT_EQ(s.cdrs("example.com", "alice", true).size(), 3u);
  EXPECT_EQ(s.provisioned().size(), 2u);
  EXPECT_EQ(s.auditLog().size(), 2u);
}

TEST_F(StoreTest, ReadOnlyReadsBesideTheWriterAndRefusesWrites) {
  auto& w = open();
  writeTwoUsers(w);  // primary stays open, nothing flushed: the secondary reads the WAL
  StoreOptions o = options();
  o.readOnly = true;
  auto r = Store::open(o);
  EXPECT_EQ(r->ipLog("example.com", "alice").size(), 1u);
  EXPECT_EQ(r->cdrs("example.com", "alice", true).size(), 3u);
  Batch b;
  b.upsertIpLog(ipEntry("alice", "192.0.2.200", kT0));
  EXPECT_THROW(r->write(b), StoreError);
  EXPECT_THROW(r->eraseUser("example.com", "alice", "x"), StoreError);
  EXPECT_THROW(r->setCdrHidden("alice-call-1", true), StoreError);
  EXPECT_THROW(r->addProvisioned({"00:00:00:00:00:01", "example.com", "alice", "", 0}), StoreError);
  EXPECT_THROW(r->enforceRetention(), StoreError);
  EXPECT_THROW(r->sweepExpiredDevices(kT0), StoreError);
  write(b);
  w.flush();
  r->catchUp();
  EXPECT_EQ(r->ipLog("example.com", "alice").size(), 2u);
}

// A value copied onto another key does not open: the key is bound as associated data.
TEST_F(StoreTest, MovedValueFailsAuthentication) {
  {
    open();
    Batch b;
    b.putDevice(device("alice", "urn:uuid:a", "", kT0 + kDay));
    b.putDevice(device("bob", "urn:uuid:b", "", kT0 + kDay));
    write(b);
  }
  store_.reset();
  {
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfds;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), options().path, &names).ok());
    for (const auto& n : names) cfds.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> hs;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), options().path, cfds, &hs, &raw).ok());
    rocksdb::ColumnFamilyHandle* dev = nullptr;
    for (auto* h : hs)
      if (h->GetName() == "device") dev = h;
    ASSERT_NE(dev, nullptr);
    std::vector<std::pair<std::string, std::string>> rows;
    std::unique_ptr<rocksdb::Iterator> it(raw->NewIterator(rocksdb::ReadOptions(), dev));
    for (it->SeekToFirst(); it->Valid(); it->Next()) rows.emplace_back(it->key().ToString(), it->value().ToString());
    it.reset();
    ASSERT_EQ(rows.size(), 2u);
    ASSERT_TRUE(raw->Put(rocksdb::WriteOptions(), dev, rows[0].first, rows[1].second).ok());
    for (auto* h : hs) raw->DestroyColumnFamilyHandle(h);
    delete raw;
  }
  auto& s = open();
  EXPECT_THROW(s.allDevices(), StoreError);
}

// ---- at rest -------------------------------------------------------------------------------------------------

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST_F(StoreTest, FilesHoldNoPlaintextIdentifiers) {
  auto& s = open();
  const std::vector<std::string> secrets = {"203.0.113.77",
                                            "198.51.100.42",
                                            "+4915112345678",
                                            "4915112345678",
                                            "+4930999888777",
                                            "Yealink SIP-T46S",
                                            "66.85.0.7",
                                            "00:15:65:12:34:56",
                                            "001565123456",
                                            "secret-user",
                                            "tenant-zeta.example",
                                            "call-uid-8f1e2d",
                                            "udp:203.0.113.77:5060",
                                            "reverse.host.example.net",
                                            "urn:uuid:6f1e-4a2b-instance"};
  Batch b;
  IpLogEntry e = ipEntry("secret-user", "203.0.113.77", kT0);
  e.tenant = "tenant-zeta.example";
  e.hostname = "reverse.host.example.net";
  b.upsertIpLog(e);
  DeviceRecord d = device("secret-user", "urn:uuid:6f1e-4a2b-instance", "00:15:65:12:34:56", kT0 + kDay);
  d.tenant = "tenant-zeta.example";
  d.userAgent = "Yealink SIP-T46S 66.85.0.7";
  d.firmware = "66.85.0.7";
  d.ip = "198.51.100.42";
  b.putDevice(d);
  CdrRecord c = cdr("secret-user", "call-uid-8f1e2d", kT0);
  c.tenant = "tenant-zeta.example";
  c.callerId = c.source = "+4915112345678";
  c.destination = "+4930999888777";
  c.srcChannel = "udp:203.0.113.77:5060";
  b.putCdr(c);
  b.audit({kT0, "operator", "hide-cdr", "call-uid-8f1e2d", "ok"});
  write(b);
  ASSERT_TRUE(s.addProvisioned({"001565123456", "tenant-zeta.example", "secret-user", "T46S", kT0}));
  ASSERT_TRUE(s.setCdrHidden("call-uid-8f1e2d", true));
  // Check before the flush too: the WAL alone must not leak.
  auto grep = [&](const char* when) {
    std::size_t files = 0;
    for (const auto& ent : fs::recursive_directory_iterator(options().path)) {
      if (!ent.is_regular_file()) continue;
      ++files;
      const std::string body = slurp(ent.path());
      for (const auto& sec : secrets)
        EXPECT_EQ(body.find(sec), std::string::npos) << when << ": '" << sec << "' in " << ent.path();
    }
    EXPECT_GT(files, 3u);
  };
  grep("before flush");
  s.flush();
  s.compactAll();
  grep("after flush");
  // And the data is really there.
  EXPECT_EQ(s.cdrs("tenant-zeta.example", "secret-user", true).at(0).callerId, "+4915112345678");
}

// ---- kill -9 -------------------------------------------------------------------------------------------------

// The child writes batches of 5 records forever and reports each index through a pipe after write() returned
// true; the parent kills it mid-stream and must find every reported batch.
TEST_F(StoreTest, KillNineLosesNothingAcknowledged) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const StoreOptions o = options();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    try {
      auto s = Store::open(o);
      for (std::uint32_t i = 0;; ++i) {
        Batch b;
        for (int k = 0; k < 5; ++k)
          b.upsertIpLog(
              ipEntry("user" + std::to_string(i % 50), "10." + std::to_string(i) + "." + std::to_string(k), kT0 + i));
        b.putCdr(cdr("user" + std::to_string(i % 50), "kill-" + std::to_string(i), kT0 + i));
        if (!s->write(b)) ::_exit(2);
        if (::write(fds[1], &i, sizeof i) != sizeof i) ::_exit(3);
      }
    } catch (...) {
      ::_exit(4);
    }
  }
  ::close(fds[1]);
  std::uint32_t idx = 0, reported = 0;
  bool any = false;
  while (reported < 400 && ::read(fds[0], &idx, sizeof idx) == sizeof idx) {
    reported = idx + 1;
    any = true;
  }
  ASSERT_TRUE(any) << "child wrote nothing";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child exited by itself: " << status;
  while (::read(fds[0], &idx, sizeof idx) == sizeof idx) reported = idx + 1;  // sent before it died
  ::close(fds[0]);

  StoreOptions ro = o;
  ro.createIfMissing = false;
  auto& s = open(ro);
  std::set<std::string> ids;
  for (int u = 0; u < 50; ++u)
    for (const auto& c : s.cdrs("example.com", "user" + std::to_string(u), true)) ids.insert(c.uniqueId);
  for (std::uint32_t i = 0; i < reported; ++i) {
    ASSERT_TRUE(ids.count("kill-" + std::to_string(i))) << "acknowledged batch " << i << " lost";
    auto log = s.ipLog("example.com", "user" + std::to_string(i % 50));
    std::set<std::string> ips;
    for (const auto& e : log) ips.insert(e.ip);
    for (int k = 0; k < 5; ++k)
      ASSERT_TRUE(ips.count("10." + std::to_string(i) + "." + std::to_string(k))) << "batch " << i << " partial";
  }
  std::cout << "[ info ] child acknowledged " << reported << " batches, store holds " << ids.size() << "\n";
  EXPECT_GE(ids.size(), reported);
}

}  // namespace
