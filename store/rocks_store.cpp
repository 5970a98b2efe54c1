// RocksStore: Store on RocksDB. Layout in keys.h, envelope in crypto.h, retention in retention_filter.h.
// The only file in sipedge that opens RocksDB.
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
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
#include <unordered_map>

#include "capture/mac.h"
#include "store/codec.h"
#include "store/crypto.h"
#include "store/json.h"
#include "store/keys.h"
#include "store/retention_filter.h"
#include "store/row_cache.h"
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

Millis toMs(std::chrono::seconds h) {
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
  explicit RocksStore(const StoreOptions& o)
      : opts_(o),
        ipCache_(o.readOnly ? 0 : o.writeCacheRows),
        devCache_(o.readOnly ? 0 : o.writeCacheRows),
        prefixCache_(o.readOnly ? 0 : o.writeCacheRows) {
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
    Pending& p = pending_;
    p.reset(b.size());
    try {
      for (const auto& op : b.ops()) {
        std::visit([&](const auto& o) { apply(p, o); }, op);
      }
    } catch (const StoreError& e) {
      if (error) *error = e.what();
      return false;  // nothing written: the caches still hold what the database holds
    }
    p.build();
    if (!commit(p.wb, error)) return false;
    // Committed: these rows are now what the database holds for their keys.
    for (auto& [k, row] : p.ip) ipCache_.put(RowTail::of(k), std::move(row));
    for (auto& [k, row] : p.dev) {
      if (row) {
        devCache_.put(RowTail::of(k), std::move(*row));
      } else {
        devCache_.erase(RowTail::of(k));
      }
    }
    return true;
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
        devCache_.erase(RowTail::of(k));
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
    norm.mac = capture::normaliseMac(p.mac);
    if (norm.mac.empty()) return false;
    if (norm.addedAt == 0) norm.addedAt = now();
    std::string key = keys_->provisioned(norm.mac);
    rocksdb::WriteBatch wb;
    wb.Put(cf(kProvisioned), key, seal(kProvisioned, key, {0, norm.addedAt}, codec::encode(norm)));
    return commit(wb, nullptr);
  }

  bool removeProvisioned(const std::string& mac) override {
    requireWritable("removeProvisioned");
    std::lock_guard lock(writeMu_);
    const std::string norm = capture::normaliseMac(mac);
    if (norm.empty()) return false;
    std::string key = keys_->provisioned(norm);
    std::string v;
    if (!get(rocksdb::ReadOptions(), kProvisioned, key, &v)) return false;
    rocksdb::WriteBatch wb;
    wb.Delete(cf(kProvisioned), key);
    scan(rocksdb::ReadOptions(), kDevice, {}, [&](std::string_view k, std::string_view val) {
      auto d = decodeAs<DeviceRecord>(kDevice, k, val);
      if (!d.mac.empty() && capture::normaliseMac(d.mac) == norm) {
        wb.Delete(cf(kDevice), sl(k));
        devCache_.erase(RowTail::of(k));
      }
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
        ipCache_.erase(RowTail::of(k));  // before the write: dropping a cache entry is always safe
        ++removed;
      });
      scan(ro, kDevice, prefix, [&](std::string_view k, std::string_view v) {
        auto d = decodeAs<DeviceRecord>(kDevice, k, v);
        if (!mine(d.tenant, d.user)) return;
        wb.Delete(cf(kDevice), sl(k));
        devCache_.erase(RowTail::of(k));
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
        if (r.cf == kIpLog) ipCache_.erase(RowTail::of(k));
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
    const std::string norm = capture::normaliseMac(mac);
    std::string v;
    return !norm.empty() && get(rocksdb::ReadOptions(), kProvisioned, keys_->provisioned(norm), &v);
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
      // A MAC provisioned without an owner (config `capture.provisioned`) belongs to no user.
      if (!p.tenant.empty() || !p.user.empty()) s.emplace(p.tenant, p.user);
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
  // What the writer-side caches keep of a row: exactly the fields an upsert carries over from the stored row.
  struct IpRow {
    IpRow() = default;
    IpRow(Millis first, Millis last, std::uint32_t n, std::string_view host, std::string_view reg,
          std::string_view provider)
        : firstSeen(first), lastSeen(last), count(n) {
      setNames(host, reg, provider);
    }
    Millis firstSeen = 0, lastSeen = 0;
    std::uint32_t count = 0;
    std::string_view hostname() const { return part(0); }
    std::string_view region() const { return part(1); }
    std::string_view isp() const { return part(2); }
    // Empty arguments keep what the row has.
    void update(std::string_view host, std::string_view reg, std::string_view provider) {
      if (host.empty() && reg.empty() && provider.empty()) return;
      std::string h(host.empty() ? hostname() : host), r(reg.empty() ? region() : reg),
          i(provider.empty() ? isp() : provider);
      setNames(h, r, i);
    }

   private:
    // The three names in one string, NUL-separated (none of them holds a NUL): one allocation, not three
    // strings of 32 bytes each, in every cached row.
    void setNames(std::string_view host, std::string_view reg, std::string_view provider) {
      names_.clear();
      names_.reserve(host.size() + reg.size() + provider.size() + 2);
      names_.append(host).push_back('\0');
      names_.append(reg).push_back('\0');
      names_.append(provider);
    }
    std::string_view part(int i) const {
      std::string_view v(names_);
      for (int k = 0; k < i; ++k) {
        auto z = v.find('\0');
        if (z == std::string_view::npos) return {};
        v.remove_prefix(z + 1);
      }
      return v.substr(0, v.find('\0'));
    }
    std::string names_;
  };
  struct DeviceRow {
    Millis firstSeen = 0;
    std::string mac;
  };

  // Reads a batch's own earlier writes before the database: the read-modify-write of upserts sees them. IP-log
  // and device rows are kept decoded (`ip`, `dev`) and published to the caches only once the batch committed;
  // other kinds go through the sealed-value overlay.
  //
  // The writes themselves are collected and handed to RocksDB by build() sorted by (column family, key), with
  // only the last write of a key kept: the batch is atomic, so nobody can see the earlier ones, and inserting in
  // key order lets each memtable skip-list insert start from the previous one's position instead of descending
  // from the top (the largest single cost of a write before this).
  struct Pending {
    explicit Pending(RocksStore& s) : store(s) {}
    // Empties it for the next batch of `ops` operations. The store keeps one Pending and reuses its buffers, so
    // a batch does not allocate (and give back) its large arrays every time.
    void reset(std::size_t ops) {
      writes.clear();
      overlay.clear();
      ip.clear();
      dev.clear();
      wb.Clear();
      writes.reserve(ops * 2);
    }
    struct Write {
      Cf cf;
      std::string key;
      std::optional<std::string> value;  // nullopt: delete
    };
    void putRow(Cf c, std::string k, std::string v) { writes.push_back({c, std::move(k), std::move(v)}); }
    void delRow(Cf c, std::string k) { writes.push_back({c, std::move(k), std::nullopt}); }
    // Fills `wb`; call once, after the last put/del.
    void build() {
      order.resize(writes.size());
      for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
        const Write& x = writes[a];
        const Write& y = writes[b];
        return x.cf != y.cf ? x.cf < y.cf : x.key < y.key;
      });
      for (std::size_t i = 0; i < order.size(); ++i) {
        const Write& w = writes[order[i]];
        if (i + 1 < order.size()) {
          const Write& next = writes[order[i + 1]];
          if (next.cf == w.cf && next.key == w.key) continue;  // superseded later in this batch
        }
        if (w.value) {
          wb.Put(store.cf(w.cf), w.key, *w.value);
        } else {
          wb.Delete(store.cf(w.cf), w.key);
        }
      }
    }
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
      overlay[{c, k}] = v;
      putRow(c, k, std::move(v));
    }
    void del(Cf c, const std::string& k) {
      overlay[{c, k}] = std::nullopt;
      delRow(c, k);
    }
    RocksStore& store;
    std::vector<Write> writes;
    std::vector<std::uint32_t> order;
    rocksdb::WriteBatch wb;
    std::map<std::pair<Cf, std::string>, std::optional<std::string>> overlay;
    std::unordered_map<std::string, IpRow, KeyTailHash> ip;
    std::unordered_map<std::string, std::optional<DeviceRow>, KeyTailHash> dev;  // nullopt: deleted here
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
    const IpLogEntry& in = op.entry;
    const Millis lastSeen = in.lastSeen != 0 ? in.lastSeen : (in.firstSeen != 0 ? in.firstSeen : now());
    const Millis firstSeen = in.firstSeen != 0 ? in.firstSeen : lastSeen;
    std::string key = keys_->ipLogUnder(userPrefix(in.tenant, in.user), in.tenant, in.user, in.ip);
    IpLogEntry e;
    e.tenant = in.tenant;
    e.user = in.user;
    e.ip = in.ip;
    e.port = in.port;
    e.transport = in.transport;
    const std::uint32_t n = std::max<std::uint32_t>(1, in.count);  // REGISTERs this upsert stands for
    IpRow row;
    if (findIpRow(p, key, &row)) {
      row.count = UINT32_MAX - row.count < n ? UINT32_MAX : row.count + n;
      row.firstSeen = std::min(row.firstSeen, firstSeen);
      row.lastSeen = std::max(row.lastSeen, lastSeen);
      e.event = (in.event.empty() || in.event == "new-ip") ? "register" : in.event;
      row.update(in.hostname, in.region, in.isp);
    } else {
      row = IpRow{firstSeen, lastSeen, n, in.hostname, in.region, in.isp};
      e.event = "new-ip";
    }
    e.firstSeen = row.firstSeen;
    e.lastSeen = row.lastSeen;
    e.count = row.count;
    e.hostname = row.hostname();
    e.region = row.region();
    e.isp = row.isp();
    p.putRow(kIpLog, key, seal(kIpLog, key, {0, e.lastSeen}, codec::encode(e)));
    p.ip.insert_or_assign(std::move(key), std::move(row));
  }

  // Late enrichment of an existing row: hostname/region/isp only; count, times, port and event stay. The writer
  // puts these ops before the batch's upserts, so the row comes from the database (or is skipped when this
  // batch already touched it: the next registration brings the cached name anyway).
  void apply(Pending& p, const Batch::EnrichIpLog& op) {
    std::string key = keys_->ipLogUnder(userPrefix(op.tenant, op.user), op.tenant, op.user, op.ip);
    std::string old;
    if (p.ip.count(key) || !get(rocksdb::ReadOptions(), kIpLog, key, &old)) return;
    IpLogEntry e = decodeAs<IpLogEntry>(kIpLog, key, old);
    if (!op.hostname.empty()) e.hostname = op.hostname;
    if (!op.region.empty()) e.region = op.region;
    if (!op.isp.empty()) e.isp = op.isp;
    p.wb.Put(cf(kIpLog), key, seal(kIpLog, key, {0, e.lastSeen}, codec::encode(e)));
    p.ip.insert_or_assign(std::move(key), IpRow{e.firstSeen, e.lastSeen, e.count, e.hostname, e.region, e.isp});
  }

  void apply(Pending& p, const Batch::PutDevice& op) {
    DeviceRecord d = op.device;
    if (d.lastSeen == 0) d.lastSeen = now();
    if (d.firstSeen == 0) d.firstSeen = d.lastSeen;
    std::string key = keys_->deviceUnder(userPrefix(d.tenant, d.user), d.tenant, d.user, d.instance);
    DeviceRow prev;
    if (findDevice(p, key, &prev) && prev.firstSeen != 0) d.firstSeen = std::min(d.firstSeen, prev.firstSeen);
    p.putRow(kDevice, key, seal(kDevice, key, {0, d.lastSeen}, codec::encode(d)));
    p.dev.insert_or_assign(std::move(key), DeviceRow{d.firstSeen, std::move(d.mac)});
  }

  void apply(Pending& p, const Batch::DeleteDevice& op) {
    std::string key = keys_->deviceUnder(userPrefix(op.tenant, op.user), op.tenant, op.user, op.instance);
    DeviceRow prev;
    if (!findDevice(p, key, &prev)) return;
    if (macProvisioned(prev.mac)) return;
    p.delRow(kDevice, key);
    p.dev.insert_or_assign(std::move(key), std::nullopt);
  }

  // The row as the batch so far leaves it: this batch's own write, else the cache, else the database.
  bool findIpRow(Pending& p, const std::string& key, IpRow* out) {
    if (auto it = p.ip.find(key); it != p.ip.end()) {
      *out = it->second;
      return true;
    }
    syncIpCacheWithRetention();
    if (const IpRow* c = ipCache_.find(RowTail::of(key))) {
      *out = *c;
      return true;
    }
    std::string old;
    if (!get(rocksdb::ReadOptions(), kIpLog, key, &old)) return false;
    IpLogEntry cur = decodeAs<IpLogEntry>(kIpLog, key, old);
    *out = IpRow{cur.firstSeen, cur.lastSeen, cur.count, cur.hostname, cur.region, cur.isp};
    return true;
  }

  bool findDevice(Pending& p, const std::string& key, DeviceRow* out) {
    if (auto it = p.dev.find(key); it != p.dev.end()) {
      if (!it->second) return false;
      *out = *it->second;
      return true;
    }
    if (const DeviceRow* c = devCache_.find(RowTail::of(key))) {
      *out = *c;
      return true;
    }
    std::string old;
    if (!get(rocksdb::ReadOptions(), kDevice, key, &old)) return false;
    auto d = decodeAs<DeviceRecord>(kDevice, key, old);
    *out = DeviceRow{d.firstSeen, std::move(d.mac)};
    return true;
  }

  // A retention compaction (or flush) that dropped IP-log rows may have dropped cached ones: start over. Rows
  // only ever leave by retention in the background; every other deletion erases its keys from the caches itself.
  void syncIpCacheWithRetention() {
    const std::uint64_t drops = ipLogDrops_->load(std::memory_order_acquire);
    if (drops == ipCacheDrops_) return;
    ipCache_.clear();
    ipCacheDrops_ = drops;
  }

  // keys_->userPrefix(tenant, user), computed once per user while it stays cached. The view is valid until the
  // next call.
  std::string_view userPrefix(const std::string& tenant, const std::string& user) {
    // An event's rows come one after another: the same user as last time is the common case.
    if (lastPrefix_ && tenant == lastTenant_ && user == lastUser_) return prefixView(*lastPrefix_);
    lastPrefix_ = nullptr;
    prefixLookup_.clear();
    const std::uint32_t n = static_cast<std::uint32_t>(tenant.size());
    prefixLookup_.append(reinterpret_cast<const char*>(&n), sizeof n);  // length first: no separator ambiguity
    prefixLookup_.append(tenant);
    prefixLookup_.append(user);
    const UserPrefix* hit = prefixCache_.find(prefixLookup_);
    if (!hit) {
      prefixScratch_ = keys_->userPrefix(tenant, user);
      if (prefixScratch_.size() != KeyCodec::kUserPrefixSize) return prefixScratch_;  // never: version + 2 hashes
      UserPrefix fixed;
      std::memcpy(fixed.data(), prefixScratch_.data(), fixed.size());
      hit = prefixCache_.put(prefixLookup_, fixed);
    }
    if (hit) {
      lastTenant_ = tenant;
      lastUser_ = user;
      lastPrefix_ = hit;  // valid until prefixCache_ changes, which only happens below this line
      return prefixView(*hit);
    }
    return prefixScratch_;  // caching off: computed above
  }

  void apply(Pending& p, const Batch::PutCdr& op) {
    CdrRecord c = op.cdr;
    if (c.start == 0) c.start = now();
    const std::string idKey = keys_->cdrId(c.uniqueId);
    const std::string key = keys_->cdrUnder(userPrefix(c.tenant, c.user), c.start, c.uniqueId);
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
    // RocksDB's flush and compaction threads at the lowest priority (nice 19), below the capture writer (nice 10)
    // and the workers: at the workers' priority they shared the worker's core as equals while they ran (p99
    // INVITE latency at 6,400 calls/s: 2.35 ms -> 1.37 ms at nice 19, tools/BENCHMARKS.md). Process-wide pools,
    // lowered once; each thread takes the setting at its next job.
    static const bool lowered = [] {
      auto* env = rocksdb::Env::Default();
      env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::HIGH, rocksdb::CpuPriority::kLow);
      env->LowerThreadPoolCPUPriority(rocksdb::Env::Priority::LOW, rocksdb::CpuPriority::kLow);
      return true;
    }();
    (void)lowered;
    dbo.keep_log_file_num = 5;
    dbo.max_manifest_file_size = 64 << 20;
    dbo.manual_wal_flush = false;  // the crash bound depends on it: each Write() hands its WAL record to the OS
    if (opts_.readOnly) dbo.max_open_files = -1;  // required by secondary instances

    std::vector<rocksdb::ColumnFamilyDescriptor> cfds;
    rocksdb::ColumnFamilyOptions base;
    base.compression = rocksdb::kNoCompression;  // sealed values do not compress
    // Bloom filters, in the memtable and in every table file, so that the upserts' reads of keys that are not
    // there (a new user, a new IP, a new CDR id) stop at a few bit tests instead of searching the skip list and
    // reading index and data blocks. Whole keys: every read here is a point lookup of a full key.
    // 16 MiB memtables (RocksDB's default is 64): every upsert adds a version to its column family's skip list,
    // and inserting into a list a quarter the size is markedly cheaper (fewer levels, more of it in cache),
    // while flushing four times as often costs the background thread little (it writes each key once). Also
    // bounds memory on a small box: 7 column families x 2 memtables x 16 MiB at most.
    base.write_buffer_size = 16 << 20;
    base.memtable_whole_key_filtering = true;
    base.memtable_prefix_bloom_size_ratio = 0.02;
    rocksdb::BlockBasedTableOptions table;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = true;
    base.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    // write() hands each batch over in key order (Pending::build); with an insert hint the memtable starts each
    // skip-list insert from where the previous one ended and repairs only the levels that no longer bracket the
    // key (O(log distance) instead of a descent from the top). One hint for the whole column family: every key
    // starts with the version byte. Only the memtable insert path reads this option; reads and iterators ignore it.
    base.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(1));
    cfds.emplace_back(rocksdb::kDefaultColumnFamilyName, base);
    for (std::size_t i = 0; i < kCfCount; ++i) {
      rocksdb::ColumnFamilyOptions co = base;
      Millis window = 0;
      if (i == kIpLog) window = toMs(opts_.retention.ipLog);
      if (i == kCdr || i == kCdrId) window = toMs(opts_.retention.cdr);
      if (i == kAudit) window = toMs(opts_.retention.audit);
      if (window > 0) {
        co.compaction_filter_factory =
            std::make_shared<RetentionFilterFactory>(opts_.clock, window, i == kIpLog ? ipLogDrops_ : nullptr);
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
  // Writer-side caches, used under writeMu_ only (see IpRow). The compaction filters touch only ipLogDrops_,
  // which they share, so it outlives the database whatever the order of destruction.
  std::shared_ptr<std::atomic<std::uint64_t>> ipLogDrops_ = std::make_shared<std::atomic<std::uint64_t>>(0);
  std::uint64_t ipCacheDrops_ = 0;
  BoundedCache<IpRow, RowTailHash, RowTail> ipCache_;
  BoundedCache<DeviceRow, RowTailHash, RowTail> devCache_;
  // The prefix inline (no second allocation per cached user).
  using UserPrefix = std::array<char, KeyCodec::kUserPrefixSize>;
  static std::string_view prefixView(const UserPrefix& p) { return {p.data(), p.size()}; }
  BoundedCache<UserPrefix> prefixCache_;
  std::string prefixLookup_, prefixScratch_;
  std::string lastTenant_, lastUser_;
  const UserPrefix* lastPrefix_ = nullptr;  // into prefixCache_
  Pending pending_{*this};                  // write()'s, reused
};

}  // namespace

std::unique_ptr<Store> Store::open(const StoreOptions& o) {
  return std::make_unique<RocksStore>(o);
}

}  // namespace sipedge::store
