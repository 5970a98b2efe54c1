// RocksStore: Store on RocksDB. Layout in keys.h, envelope in crypto.h, retention in retention_filter.h.
// The only file in sipedge that opens RocksDB.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <system_error>

#include "store/codec.h"
#include "store/crypto.h"
#include "store/json.h"
#include "store/keys.h"
#include "store/retention_filter.h"
#include "store/store.h"

namespace sipedge::store {
namespace {

namespace fs = std::filesystem;

// Column families, in the order of the handles vector. The tag is bound into every value's associated data.
enum Cf : std::uint8_t { kMeta, kIpLog, kDevice, kProvisioned, kCdr, kCdrId, kAudit, kCfCount };
constexpr std::array<const char*, kCfCount> kCfNames{"meta", "iplog",  "device", "provisioned",
                                                     "cdr",  "cdr_id", "audit"};

constexpr const char* kSchemaVersion = "1";
constexpr std::string_view kKeyCheckPlain = "sipedge store key check v1";
constexpr std::size_t kDeleteChunk = 10000;  // retention deletes per WriteBatch

Millis systemNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Millis toMs(std::chrono::hours h) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(h).count();
}

std::string_view sv(const rocksdb::Slice& s) {
  return {s.data(), s.size()};
}
rocksdb::Slice sl(std::string_view s) {
  return {s.data(), s.size()};
}

Cf cfOf(Kind k) {
  switch (k) {
    case Kind::IpLog:
      return kIpLog;
    case Kind::Device:
      return kDevice;
    case Kind::Provisioned:
      return kProvisioned;
    case Kind::Cdr:
      return kCdr;
    case Kind::Audit:
      return kAudit;
  }
  return kIpLog;
}

std::string random8() {
  std::string r(8, '\0');
  randombytes_buf(r.data(), r.size());
  return r;
}

using Json = nlohmann::ordered_json;

class RocksStore final : public Store {
 public:
  explicit RocksStore(const StoreOptions& o) : opts_(o) {
    if (!opts_.clock) opts_.clock = systemNow;
    if (opts_.path.empty()) throw StoreError("no store path configured");
    std::error_code ec;
    const bool exists = fs::exists(fs::path(opts_.path) / "CURRENT", ec);
    if (!exists && opts_.readOnly) throw StoreError("store not found at '" + opts_.path + "' (nothing to read)");
    if (!exists && !opts_.createIfMissing) throw StoreError("store not found at '" + opts_.path + "'");
    if (exists && !opts_.keyFile.empty() && !fs::exists(opts_.keyFile, ec)) {
      throw StoreError("key file '" + opts_.keyFile + "' is missing but the store at '" + opts_.path +
                       "' exists: its data cannot be read without the key it was written with");
    }
    ring_ = KeyRing::fromFile(opts_.keyFile, !exists && opts_.createIfMissing && !opts_.readOnly);
    keys_ = std::make_unique<KeyCodec>(*ring_);
    openDb(exists);
    checkMeta();
  }

  ~RocksStore() override = default;

  // ---- writes -------------------------------------------------------------------------------------------

  bool write(const Batch& b, std::string* error) override {
    requireWritable("write");
    std::lock_guard lock(writeMu_);
    Pending p(*this);
    try {
      for (const auto& op : b.ops()) {
        std::visit([&](const auto& o) { apply(p, o); }, op);
      }
    } catch (const StoreError& e) {
      if (error) *error = e.what();
      return false;
    }
    return commit(p.wb, error);
  }

  void setSync(bool sync) override { sync_ = sync; }

  std::size_t sweepExpiredDevices(Millis now) override {
    requireWritable("sweepExpiredDevices");
    std::lock_guard lock(writeMu_);
    rocksdb::WriteBatch wb;
    std::size_t n = 0;
    rocksdb::ReadOptions ro;
    scan(ro, kDevice, {}, [&](std::string_view k, std::string_view v) {
      auto d = decodeAs<DeviceRecord>(kDevice, k, v);
      if (d.expiresAt < now && !macProvisioned(d.mac)) {
        wb.Delete(cf(kDevice), sl(k));
        ++n;
      }
    });
    commitOrThrow(wb);
    return n;
  }

  bool addProvisioned(const ProvisionedDevice& p) override {
    requireWritable("addProvisioned");
    std::lock_guard lock(writeMu_);
    ProvisionedDevice norm = p;
    norm.mac = KeyCodec::normaliseMac(p.mac);
    if (!KeyCodec::isMac(norm.mac)) return false;
    if (norm.addedAt == 0) norm.addedAt = now();
    std::string key = keys_->provisioned(norm.mac);
    rocksdb::WriteBatch wb;
    wb.Put(cf(kProvisioned), key, seal(kProvisioned, key, {0, norm.addedAt}, codec::encode(norm)));
    return commit(wb, nullptr);
  }

  bool removeProvisioned(const std::string& mac) override {
    requireWritable("removeProvisioned");
    std::lock_guard lock(writeMu_);
    std::string key = keys_->provisioned(mac);
    std::string v;
    if (!get(rocksdb::ReadOptions(), kProvisioned, key, &v)) return false;
    rocksdb::WriteBatch wb;
    wb.Delete(cf(kProvisioned), key);
    const std::string norm = KeyCodec::normaliseMac(mac);
    scan(rocksdb::ReadOptions(), kDevice, {}, [&](std::string_view k, std::string_view val) {
      auto d = decodeAs<DeviceRecord>(kDevice, k, val);
      if (!d.mac.empty() && KeyCodec::normaliseMac(d.mac) == norm) wb.Delete(cf(kDevice), sl(k));
    });
    return commit(wb, nullptr);
  }

  bool setCdrHidden(const std::string& uniqueId, bool hidden) override {
    requireWritable("setCdrHidden");
    return updateCdr(uniqueId, [&](CdrRecord& c) { c.hiddenByUser = hidden; });
  }

  bool setCdrLegalHold(const std::string& uniqueId, bool hold) override {
    requireWritable("setCdrLegalHold");
    return updateCdr(uniqueId, [&](CdrRecord& c) { c.legalHold = hold; });
  }

  std::size_t eraseUser(const std::string& tenant, const std::string& user, const std::string& actor) override {
    requireWritable("eraseUser");
    const std::string prefix = keys_->userPrefix(tenant, user);
    std::size_t removed = 0, kept = 0;
    {
      std::lock_guard lock(writeMu_);
      rocksdb::ReadOptions ro;
      rocksdb::WriteBatch wb;
      auto mine = [&](const std::string& t, const std::string& u) { return t == tenant && u == user; };
      scan(ro, kIpLog, prefix, [&](std::string_view k, std::string_view v) {
        auto e = decodeAs<IpLogEntry>(kIpLog, k, v);
        if (!mine(e.tenant, e.user)) return;  // a 128-bit hash collision: not this user's row
        wb.Delete(cf(kIpLog), sl(k));
        ++removed;
      });
      scan(ro, kDevice, prefix, [&](std::string_view k, std::string_view v) {
        auto d = decodeAs<DeviceRecord>(kDevice, k, v);
        if (!mine(d.tenant, d.user)) return;
        wb.Delete(cf(kDevice), sl(k));
        ++removed;
      });
      scan(ro, kCdr, prefix, [&](std::string_view k, std::string_view v) {
        auto c = decodeAs<CdrRecord>(kCdr, k, v);
        if (!mine(c.tenant, c.user)) return;
        if (c.legalHold) {
          ++kept;
          return;
        }
        wb.Delete(cf(kCdr), sl(k));
        wb.Delete(cf(kCdrId), keys_->cdrId(c.uniqueId));
        ++removed;
      });
      scan(ro, kProvisioned, {}, [&](std::string_view k, std::string_view v) {
        auto pd = decodeAs<ProvisionedDevice>(kProvisioned, k, v);
        if (!mine(pd.tenant, pd.user)) return;
        wb.Delete(cf(kProvisioned), sl(k));
        ++removed;
      });
      AuditRecord a{
          now(), actor, "erase-user", userTarget(tenant, user),
          "ok: " + std::to_string(removed) + " rows removed, " + std::to_string(kept) + " legal-hold CDRs kept"};
      putAudit(&wb, nullptr, std::move(a));
      rocksdb::WriteOptions wo;
      wo.sync = true;  // an acknowledged erasure survives a power loss
      auto s = db_.db->Write(wo, &wb);
      if (!s.ok()) throw StoreError("erasing " + userTarget(tenant, user) + " failed: " + s.ToString());
    }
    // Push the tombstones through to the bottom level now, so the old (encrypted) values leave the SST files
    // instead of waiting for a compaction that may be weeks away.
    const std::string end = prefixEnd(prefix);
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    rocksdb::Slice b = prefix, e = end;
    for (Cf c : {kIpLog, kDevice, kCdr}) db_.db->CompactRange(co, cf(c), &b, &e);
    return removed;
  }

  std::size_t enforceRetention() override {
    requireWritable("enforceRetention");
    std::lock_guard lock(writeMu_);
    const Millis t = now();
    std::size_t removed = 0;
    struct Rule {
      Cf cf;
      Millis window;
      bool counts;
    };
    const Rule rules[] = {{kIpLog, toMs(opts_.retention.ipLog), true},
                          {kCdr, toMs(opts_.retention.cdr), true},
                          {kCdrId, toMs(opts_.retention.cdr), false},  // index rows follow their CDR's rule
                          {kAudit, toMs(opts_.retention.audit), true}};
    for (const Rule& r : rules) {
      if (r.window <= 0) continue;
      const Millis cutoff = t - r.window;
      rocksdb::WriteBatch wb;
      scan(rocksdb::ReadOptions(), r.cf, {}, [&](std::string_view k, std::string_view v) {
        if (!retentionExpired(v, cutoff)) return;
        wb.Delete(cf(r.cf), sl(k));
        if (r.counts) ++removed;
        if (static_cast<std::size_t>(wb.Count()) >= kDeleteChunk) {
          commitOrThrow(wb);
          wb.Clear();
        }
      });
      commitOrThrow(wb);
    }
    return removed;
  }

  void compactAll() override {
    requireWritable("compactAll");
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    for (auto* h : db_.handles) {
      auto s = db_.db->CompactRange(co, h, nullptr, nullptr);
      if (!s.ok()) throw StoreError("compaction failed: " + s.ToString());
    }
  }

  void catchUp() override {
    if (!opts_.readOnly) return;
    auto s = db_.db->TryCatchUpWithPrimary();
    if (!s.ok()) throw StoreError("cannot catch up with the primary store: " + s.ToString());
  }

  void flush() override {
    if (opts_.readOnly) return;
    db_.db->FlushWAL(true);
    rocksdb::FlushOptions fo;
    fo.wait = true;
    auto s = db_.db->Flush(fo, db_.handles);
    if (!s.ok()) throw StoreError("flush failed: " + s.ToString());
  }

  // ---- reads --------------------------------------------------------------------------------------------

  std::vector<DeviceRecord> devices(const std::string& tenant, const std::string& user) const override {
    Snapshot snap(*this);
    return devicesOf(snap.ro, tenant, user);
  }

  std::vector<DeviceRecord> allDevices() const override {
    Snapshot snap(*this);
    std::vector<DeviceRecord> out;
    scan(snap.ro, kDevice, {},
         [&](std::string_view k, std::string_view v) { out.push_back(decodeAs<DeviceRecord>(kDevice, k, v)); });
    return out;
  }

  std::vector<ProvisionedDevice> provisioned() const override {
    Snapshot snap(*this);
    std::vector<ProvisionedDevice> out;
    scan(snap.ro, kProvisioned, {}, [&](std::string_view k, std::string_view v) {
      out.push_back(decodeAs<ProvisionedDevice>(kProvisioned, k, v));
    });
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.mac < b.mac; });
    return out;
  }

  bool isProvisioned(const std::string& mac) const override {
    std::string v;
    return get(rocksdb::ReadOptions(), kProvisioned, keys_->provisioned(mac), &v);
  }

  std::vector<IpLogEntry> ipLog(const std::string& tenant, const std::string& user) const override {
    Snapshot snap(*this);
    return ipLogOf(snap.ro, tenant, user);
  }

  std::vector<CdrRecord> cdrs(const std::string& tenant, const std::string& user, bool includeHidden) const override {
    Snapshot snap(*this);
    return cdrsOf(snap.ro, tenant, user, includeHidden);
  }

  std::vector<AuditRecord> auditLog() const override {
    Snapshot snap(*this);
    std::vector<AuditRecord> out;
    scan(snap.ro, kAudit, {},
         [&](std::string_view k, std::string_view v) { out.push_back(decodeAs<AuditRecord>(kAudit, k, v)); });
    return out;
  }

  std::vector<std::pair<std::string, std::string>> users() const override {
    Snapshot snap(*this);
    std::set<std::pair<std::string, std::string>> s;
    scan(snap.ro, kIpLog, {}, [&](std::string_view k, std::string_view v) {
      auto e = decodeAs<IpLogEntry>(kIpLog, k, v);
      s.emplace(e.tenant, e.user);
    });
    scan(snap.ro, kDevice, {}, [&](std::string_view k, std::string_view v) {
      auto d = decodeAs<DeviceRecord>(kDevice, k, v);
      s.emplace(d.tenant, d.user);
    });
    scan(snap.ro, kCdr, {}, [&](std::string_view k, std::string_view v) {
      auto c = decodeAs<CdrRecord>(kCdr, k, v);
      s.emplace(c.tenant, c.user);
    });
    scan(snap.ro, kProvisioned, {}, [&](std::string_view k, std::string_view v) {
      auto p = decodeAs<ProvisionedDevice>(kProvisioned, k, v);
      s.emplace(p.tenant, p.user);
    });
    return {s.begin(), s.end()};
  }

  std::string exportUser(const std::string& tenant, const std::string& user) const override {
    Snapshot snap(*this);
    Json doc;
    doc["format"] = "sipedge-export/1";
    doc["tenant"] = tenant;
    doc["user"] = user;
    doc["exported_at"] = now();
    doc["ip_log"] = Json::array();
    for (const auto& e : ipLogOf(snap.ro, tenant, user)) doc["ip_log"].push_back(toJson(e));
    doc["devices"] = Json::array();
    for (const auto& d : devicesOf(snap.ro, tenant, user)) doc["devices"].push_back(toJson(d));
    doc["provisioned"] = Json::array();
    scan(snap.ro, kProvisioned, {}, [&](std::string_view k, std::string_view v) {
      auto p = decodeAs<ProvisionedDevice>(kProvisioned, k, v);
      if (p.tenant == tenant && p.user == user) doc["provisioned"].push_back(toJson(p));
    });
    doc["cdrs"] = Json::array();
    for (const auto& c : cdrsOf(snap.ro, tenant, user, true)) doc["cdrs"].push_back(toJson(c));
    doc["audit"] = Json::array();
    const std::string target = userTarget(tenant, user);
    const std::string asActor = "user:" + target;
    scan(snap.ro, kAudit, {}, [&](std::string_view k, std::string_view v) {
      auto a = decodeAs<AuditRecord>(kAudit, k, v);
      if (a.target == target || a.actor == asActor) doc["audit"].push_back(toJson(a));
    });
    // User-Agent strings and the like come off the wire: replace invalid UTF-8 rather than throw.
    return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  std::optional<Millis> oldestRecordAge(Kind k) const override {
    const Cf c = cfOf(k);
    std::optional<Millis> oldest;
    Snapshot snap(*this);
    scan(snap.ro, c, {}, [&](std::string_view, std::string_view v) {
      ValueHeader h;
      if (!parseHeader(v, &h)) return;
      if (c == kCdr && (h.flags & ValueHeader::kLegalHold)) return;
      if (!oldest || h.time < *oldest) oldest = h.time;
    });
    if (!oldest) return std::nullopt;
    return now() - *oldest;
  }

 private:
  // Reads a batch's own earlier writes before the database: the read-modify-write of upserts sees them.
  struct Pending {
    explicit Pending(RocksStore& s) : store(s) {}
    bool get(Cf c, const std::string& k, std::string* v) {
      auto it = overlay.find({c, k});
      if (it != overlay.end()) {
        if (!it->second) return false;
        *v = *it->second;
        return true;
      }
      return store.get(rocksdb::ReadOptions(), c, k, v);
    }
    void put(Cf c, const std::string& k, std::string v) {
      wb.Put(store.cf(c), k, v);
      overlay[{c, k}] = std::move(v);
    }
    void del(Cf c, const std::string& k) {
      wb.Delete(store.cf(c), k);
      overlay[{c, k}] = std::nullopt;
    }
    RocksStore& store;
    rocksdb::WriteBatch wb;
    std::map<std::pair<Cf, std::string>, std::optional<std::string>> overlay;
  };

  // Takes a snapshot for readers of a primary; a secondary only moves on catchUp(), so it reads as it is.
  struct Snapshot {
    explicit Snapshot(const RocksStore& s) : db(s.db_.db) {
      if (!s.opts_.readOnly) snap = db->GetSnapshot();
      ro.snapshot = snap;
    }
    ~Snapshot() {
      if (snap) db->ReleaseSnapshot(snap);
    }
    Snapshot(const Snapshot&) = delete;
    Snapshot& operator=(const Snapshot&) = delete;
    rocksdb::DB* db;
    const rocksdb::Snapshot* snap = nullptr;
    rocksdb::ReadOptions ro;
  };

  void apply(Pending& p, const Batch::UpsertIpLog& op) {
    IpLogEntry e = op.entry;
    if (e.lastSeen == 0) e.lastSeen = e.firstSeen ? e.firstSeen : now();
    if (e.firstSeen == 0) e.firstSeen = e.lastSeen;
    const std::string key = keys_->ipLog(e.tenant, e.user, e.ip);
    std::string old;
    if (p.get(kIpLog, key, &old)) {
      IpLogEntry cur = decodeAs<IpLogEntry>(kIpLog, key, old);
      if (cur.count < UINT32_MAX) ++cur.count;
      cur.firstSeen = std::min(cur.firstSeen, e.firstSeen);
      cur.lastSeen = std::max(cur.lastSeen, e.lastSeen);
      cur.port = e.port;
      cur.transport = e.transport;
      cur.event = (e.event.empty() || e.event == "new-ip") ? "register" : e.event;
      if (!e.hostname.empty()) cur.hostname = e.hostname;
      if (!e.region.empty()) cur.region = e.region;
      if (!e.isp.empty()) cur.isp = e.isp;
      e = std::move(cur);
    } else {
      e.count = 1;
      e.event = "new-ip";
    }
    p.put(kIpLog, key, seal(kIpLog, key, {0, e.lastSeen}, codec::encode(e)));
  }

  void apply(Pending& p, const Batch::PutDevice& op) {
    DeviceRecord d = op.device;
    if (d.lastSeen == 0) d.lastSeen = now();
    if (d.firstSeen == 0) d.firstSeen = d.lastSeen;
    const std::string key = keys_->device(d.tenant, d.user, d.instance);
    std::string old;
    if (p.get(kDevice, key, &old)) {
      auto prev = decodeAs<DeviceRecord>(kDevice, key, old);
      if (prev.firstSeen != 0) d.firstSeen = std::min(d.firstSeen, prev.firstSeen);
    }
    p.put(kDevice, key, seal(kDevice, key, {0, d.lastSeen}, codec::encode(d)));
  }

  void apply(Pending& p, const Batch::DeleteDevice& op) {
    const std::string key = keys_->device(op.tenant, op.user, op.instance);
    std::string old;
    if (!p.get(kDevice, key, &old)) return;
    auto d = decodeAs<DeviceRecord>(kDevice, key, old);
    if (macProvisioned(d.mac)) return;
    p.del(kDevice, key);
  }

  void apply(Pending& p, const Batch::PutCdr& op) {
    CdrRecord c = op.cdr;
    if (c.start == 0) c.start = now();
    const std::string idKey = keys_->cdrId(c.uniqueId);
    const std::string key = keys_->cdr(c.tenant, c.user, c.start, c.uniqueId);
    std::string idVal;
    if (p.get(kCdrId, idKey, &idVal)) {
      const std::string oldKey = openAs(kCdrId, idKey, idVal);
      std::string old;
      if (p.get(kCdr, oldKey, &old)) {
        auto prev = decodeAs<CdrRecord>(kCdr, oldKey, old);
        c.hiddenByUser = c.hiddenByUser || prev.hiddenByUser;
        c.legalHold = c.legalHold || prev.legalHold;
        if (oldKey != key) p.del(kCdr, oldKey);
      }
    }
    const ValueHeader h{static_cast<std::uint8_t>(c.legalHold ? ValueHeader::kLegalHold : 0), c.start};
    p.put(kCdr, key, seal(kCdr, key, h, codec::encode(c)));
    p.put(kCdrId, idKey, seal(kCdrId, idKey, h, key));
  }

  void apply(Pending& p, const Batch::Audit& op) { putAudit(nullptr, &p, op.record); }

  // Into a plain WriteBatch or a Pending (exactly one of them).
  void putAudit(rocksdb::WriteBatch* wb, Pending* p, AuditRecord a) {
    if (a.time == 0) a.time = now();
    const std::string key = KeyCodec::audit(a.time, random8());
    std::string v = seal(kAudit, key, {0, a.time}, codec::encode(a));
    if (p) {
      p->put(kAudit, key, std::move(v));
    } else {
      wb->Put(cf(kAudit), key, v);
    }
  }

  template <class F>
  bool updateCdr(const std::string& uniqueId, F&& change) {
    std::lock_guard lock(writeMu_);
    const std::string idKey = keys_->cdrId(uniqueId);
    std::string idVal, v;
    rocksdb::ReadOptions ro;
    if (!get(ro, kCdrId, idKey, &idVal)) return false;
    const std::string key = openAs(kCdrId, idKey, idVal);
    if (!get(ro, kCdr, key, &v)) return false;
    auto c = decodeAs<CdrRecord>(kCdr, key, v);
    change(c);
    const ValueHeader h{static_cast<std::uint8_t>(c.legalHold ? ValueHeader::kLegalHold : 0), c.start};
    rocksdb::WriteBatch wb;
    wb.Put(cf(kCdr), key, seal(kCdr, key, h, codec::encode(c)));
    wb.Put(cf(kCdrId), idKey, seal(kCdrId, idKey, h, key));  // the index carries the hold flag for retention too
    return commit(wb, nullptr);
  }

  std::vector<IpLogEntry> ipLogOf(const rocksdb::ReadOptions& ro, const std::string& tenant,
                                  const std::string& user) const {
    std::vector<IpLogEntry> out;
    scan(ro, kIpLog, keys_->userPrefix(tenant, user), [&](std::string_view k, std::string_view v) {
      auto e = decodeAs<IpLogEntry>(kIpLog, k, v);
      if (e.tenant == tenant && e.user == user) out.push_back(std::move(e));
    });
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return a.firstSeen != b.firstSeen ? a.firstSeen < b.firstSeen : a.ip < b.ip;
    });
    return out;
  }

  std::vector<DeviceRecord> devicesOf(const rocksdb::ReadOptions& ro, const std::string& tenant,
                                      const std::string& user) const {
    std::vector<DeviceRecord> out;
    scan(ro, kDevice, keys_->userPrefix(tenant, user), [&](std::string_view k, std::string_view v) {
      auto d = decodeAs<DeviceRecord>(kDevice, k, v);
      if (d.tenant == tenant && d.user == user) out.push_back(std::move(d));
    });
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
      return a.firstSeen != b.firstSeen ? a.firstSeen < b.firstSeen : a.instance < b.instance;
    });
    return out;
  }

  std::vector<CdrRecord> cdrsOf(const rocksdb::ReadOptions& ro, const std::string& tenant, const std::string& user,
                                bool includeHidden) const {
    std::vector<CdrRecord> out;  // key order = start time order
    scan(ro, kCdr, keys_->userPrefix(tenant, user), [&](std::string_view k, std::string_view v) {
      auto c = decodeAs<CdrRecord>(kCdr, k, v);
      if (c.tenant != tenant || c.user != user) return;
      if (c.hiddenByUser && !includeHidden) return;
      out.push_back(std::move(c));
    });
    return out;
  }

  // ---- plumbing -----------------------------------------------------------------------------------------

  void openDb(bool exists) {
    rocksdb::DBOptions dbo;
    dbo.create_if_missing = !exists && opts_.createIfMissing && !opts_.readOnly;
    dbo.create_missing_column_families = !opts_.readOnly;
    dbo.keep_log_file_num = 5;
    dbo.max_manifest_file_size = 64 << 20;
    dbo.manual_wal_flush = false;  // the crash bound depends on it: each Write() hands its WAL record to the OS
    if (opts_.readOnly) dbo.max_open_files = -1;  // required by secondary instances

    std::vector<rocksdb::ColumnFamilyDescriptor> cfds;
    rocksdb::ColumnFamilyOptions base;
    base.compression = rocksdb::kNoCompression;  // sealed values do not compress
    cfds.emplace_back(rocksdb::kDefaultColumnFamilyName, base);
    for (std::size_t i = 0; i < kCfCount; ++i) {
      rocksdb::ColumnFamilyOptions co = base;
      Millis window = 0;
      if (i == kIpLog) window = toMs(opts_.retention.ipLog);
      if (i == kCdr || i == kCdrId) window = toMs(opts_.retention.cdr);
      if (i == kAudit) window = toMs(opts_.retention.audit);
      if (window > 0) {
        co.compaction_filter_factory = std::make_shared<RetentionFilterFactory>(opts_.clock, window);
        co.periodic_compaction_seconds = 24 * 3600;  // rows leave the files within about a day of expiring
      }
      cfds.emplace_back(kCfNames[i], co);
    }

    if (exists) {
      std::vector<std::string> present;
      auto s = rocksdb::DB::ListColumnFamilies(dbo, opts_.path, &present);
      if (!s.ok()) throw StoreError("cannot read the store at '" + opts_.path + "': " + s.ToString());
      for (const auto& name : present) {
        bool known = std::any_of(cfds.begin(), cfds.end(), [&](const auto& d) { return d.name == name; });
        if (!known) {
          throw StoreError("store at '" + opts_.path + "' has an unknown column family '" + name +
                           "' (written by a newer sipedge?)");
        }
      }
      if (opts_.readOnly && std::find(present.begin(), present.end(), "meta") == present.end())
        throw StoreError("'" + opts_.path + "' is not a sipedge store (no meta column family)");
    }

    std::vector<rocksdb::ColumnFamilyHandle*> hs;
    rocksdb::Status s;
    if (opts_.readOnly) {
      std::string tmpl = (fs::temp_directory_path() / "sipedge-secondary-XXXXXX").string();
      if (!::mkdtemp(tmpl.data())) throw StoreError("cannot create a directory for the read-only instance");
      db_.secondaryDir = tmpl;
      s = rocksdb::DB::OpenAsSecondary(dbo, opts_.path, db_.secondaryDir, cfds, &hs, &db_.db);
    } else {
      std::error_code ec;
      fs::create_directories(opts_.path, ec);
      if (ec) throw StoreError("cannot create store directory '" + opts_.path + "': " + ec.message());
      s = rocksdb::DB::Open(dbo, opts_.path, cfds, &hs, &db_.db);
    }
    if (!s.ok()) {
      std::string hint = s.IsIOError() && s.ToString().find("lock") != std::string::npos
                             ? " (is another sipedge using it? tools must open it readOnly)"
                             : "";
      throw StoreError("cannot open store at '" + opts_.path + "': " + s.ToString() + hint);
    }
    // hs[0] is "default", unused; keep it for cleanup, index ours from 1.
    db_.handles = hs;
  }

  void checkMeta() {
    const std::string checkKey = KeyCodec::meta("keycheck");
    const std::string schemaKey = KeyCodec::meta("schema");
    std::string v;
    if (get(rocksdb::ReadOptions(), kMeta, checkKey, &v)) {
      std::string plain;
      if (!openValue(*ring_, kMeta, checkKey, v, &plain) || plain != kKeyCheckPlain) {
        throw StoreError("key file '" + opts_.keyFile + "' does not match the store at '" + opts_.path +
                         "' (wrong key): refusing to open");
      }
      std::string schema;
      if (!get(rocksdb::ReadOptions(), kMeta, schemaKey, &schema) || schema != kSchemaVersion)
        throw StoreError("store at '" + opts_.path + "' has schema version '" + schema + "'; this build reads '" +
                         kSchemaVersion + "'");
      return;
    }
    // A new store (or one that crashed before its first write): only initialise it when it holds nothing.
    for (Cf c : {kIpLog, kDevice, kProvisioned, kCdr, kCdrId, kAudit}) {
      std::unique_ptr<rocksdb::Iterator> it(db_.db->NewIterator(rocksdb::ReadOptions(), cf(c)));
      it->SeekToFirst();
      if (it->Valid())
        throw StoreError("store at '" + opts_.path + "' holds data but no key check: cannot verify the key");
    }
    if (opts_.readOnly) throw StoreError("store at '" + opts_.path + "' is not initialised yet (no key check)");
    rocksdb::WriteBatch wb;
    wb.Put(cf(kMeta), schemaKey, kSchemaVersion);
    wb.Put(cf(kMeta), checkKey, sealValue(*ring_, kMeta, checkKey, {0, now()}, kKeyCheckPlain));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    auto s = db_.db->Write(wo, &wb);
    if (!s.ok()) throw StoreError("cannot initialise store at '" + opts_.path + "': " + s.ToString());
  }

  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return db_.handles[static_cast<std::size_t>(c) + 1]; }

  Millis now() const { return opts_.clock(); }

  void requireWritable(const char* what) const {
    if (opts_.readOnly) throw StoreError(std::string(what) + ": the store at '" + opts_.path + "' is open read-only");
  }

  bool get(const rocksdb::ReadOptions& ro, Cf c, const std::string& k, std::string* v) const {
    auto s = db_.db->Get(ro, cf(c), k, v);
    if (s.IsNotFound()) return false;
    if (!s.ok()) throw StoreError(std::string("read from ") + kCfNames[c] + " failed: " + s.ToString());
    return true;
  }

  template <class F>
  void scan(const rocksdb::ReadOptions& ro, Cf c, const std::string& prefix, F&& f) const {
    std::unique_ptr<rocksdb::Iterator> it(db_.db->NewIterator(ro, cf(c)));
    for (prefix.empty() ? it->SeekToFirst() : it->Seek(prefix); it->Valid(); it->Next()) {
      if (!prefix.empty() && !it->key().starts_with(prefix)) break;
      f(sv(it->key()), sv(it->value()));
    }
    if (!it->status().ok())
      throw StoreError(std::string("scan of ") + kCfNames[c] + " failed: " + it->status().ToString());
  }

  std::string seal(Cf c, const std::string& key, ValueHeader h, std::string_view plain) const {
    return sealValue(*ring_, c, key, h, plain);
  }

  std::string openAs(Cf c, std::string_view key, std::string_view value) const {
    std::string plain;
    if (!openValue(*ring_, c, key, value, &plain))
      throw StoreError(std::string("a value in ") + kCfNames[c] + " fails authentication (tampered or moved)");
    return plain;
  }

  template <class R>
  R decodeAs(Cf c, std::string_view key, std::string_view value) const {
    R r;
    if (!codec::decode(openAs(c, key, value), &r))
      throw StoreError(std::string("a value in ") + kCfNames[c] + " is malformed (unknown version?)");
    return r;
  }

  bool macProvisioned(const std::string& mac) const { return !mac.empty() && isProvisioned(mac); }

  bool commit(rocksdb::WriteBatch& wb, std::string* error) {
    if (wb.Count() == 0) return true;
    rocksdb::WriteOptions wo;
    wo.sync = sync_.load();
    auto s = db_.db->Write(wo, &wb);
    if (!s.ok() && error) *error = s.ToString();
    return s.ok();
  }

  void commitOrThrow(rocksdb::WriteBatch& wb) {
    std::string err;
    if (!commit(wb, &err)) throw StoreError("write failed: " + err);
  }

  // Owns the open database, so a constructor that throws after opening (wrong key) still closes it and
  // releases the LOCK.
  struct Db {
    rocksdb::DB* db = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;  // [0] is "default" (unused), then Cf order
    std::string secondaryDir;                           // readOnly: the secondary's scratch directory
    Db() = default;
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    ~Db() {
      if (db) {
        for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
        db->Close();
        delete db;
      }
      if (!secondaryDir.empty()) {
        std::error_code ec;
        fs::remove_all(secondaryDir, ec);
      }
    }
  };

  StoreOptions opts_;
  std::unique_ptr<KeyRing> ring_;
  std::unique_ptr<KeyCodec> keys_;
  Db db_;
  std::atomic<bool> sync_{false};
  std::mutex writeMu_;
};

}  // namespace

std::unique_ptr<Store> Store::open(const StoreOptions& o) {
  return std::make_unique<RocksStore>(o);
}

}  // namespace sipedge::store
