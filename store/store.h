// The one interface in front of RocksDB. Everything sipedge keeps goes through here; nothing else includes
// RocksDB headers. One column family per kind, keys carrying a version byte, sensitive values encrypted at rest,
// retention enforced by the store itself.
//
// Threading: one writer thread calls the mutating functions (capture's writer, or a tool); readers may call
// the const functions from any thread (they read a snapshot). Mutating functions are also serialised by an
// internal mutex, so a second mutating caller is safe, just not concurrent.
//
// Crash bound (WAL always on, sync off by default): a write() that returned true has been handed to the OS in
// the WAL (RocksDB writes the WAL record with write(2) before Write() returns; manual_wal_flush stays off). A
// process crash or kill -9 therefore loses at most what was not yet passed to write() (capture's queues and the
// batch being built); nothing write() acknowledged. A power loss or kernel crash can also lose acknowledged writes
// still in the page cache unless setSync(true) (fsync per write). eraseUser() always syncs.
//
// At rest: key components are keyed hashes (BLAKE2b, key derived from the key file) of tenant/user/ip/instance/
// mac/unique id, never the identifiers themselves; every value is XChaCha20-Poly1305 sealed with a random nonce
// and the column family + key bytes + clear header as associated data. The only clear bytes in a value are its
// header: a version byte, a flags byte (legal hold) and the timestamp retention works on.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "records.h"

namespace sipedge::store {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Kind : std::uint8_t { IpLog, Device, Provisioned, Cdr, Audit };

struct Retention {
  // Seconds, so short windows ("45s", for tests and strict deployments) are not rounded to "keep forever".
  std::chrono::seconds ipLog{std::chrono::hours(24 * 90)};
  std::chrono::seconds cdr{std::chrono::hours(24 * 365)};
  std::chrono::seconds audit{std::chrono::hours(24 * 365)};
};

struct StoreOptions {
  std::string path;             // RocksDB directory (e.g. data_dir + "/store")
  std::string keyFile;          // 32-byte key; created (0600) when missing and createIfMissing
  bool createIfMissing = true;  // false for tools: a missing store is an error
  bool readOnly = false;        // tools reading while sipedge runs (RocksDB secondary instance; never creates)
  Retention retention;
  // Injectable for tests; default system clock. Called from RocksDB's compaction threads too: must be thread-safe.
  std::function<Millis()> clock;
  // Rows per writer-side cache (decoded IP-log rows; device first-seen and MAC; per-user key prefixes) that let
  // the upserts in write() skip a database read and a decryption. Each entry is a copy of what the database
  // holds for that key, dropped whenever the row leaves it (erase, retention, sweep, unregister); decoded values
  // live in this process's memory only, never on disk. About 500 bytes per user across the three caches, so
  // the default holds ~64k users in ~32 MiB; 0 turns the caches off (every upsert reads the database).
  std::size_t writeCacheRows = 1 << 16;
};

// One atomic group of writes (a RocksDB WriteBatch, WAL on). Built by value on the writer thread; the records are
// copied (or moved) in, so nothing points back into the caller.
class Batch {
 public:
  struct UpsertIpLog {
    IpLogEntry entry;
  };
  struct PutDevice {
    DeviceRecord device;
  };
  struct DeleteDevice {
    std::string tenant, user, instance;
  };
  struct PutCdr {
    CdrRecord cdr;
  };
  struct Audit {
    AuditRecord record;
  };
  struct EnrichIpLog {
    std::string tenant, user, ip, hostname, region, isp;
  };
  using Op = std::variant<UpsertIpLog, PutDevice, DeleteDevice, PutCdr, Audit, EnrichIpLog>;

  // One row per (tenant, user, ip). The entry's count is how many REGISTERs it stands for (0 is taken as 1; the
  // capture writer folds refreshes together). First write: event "new-ip", count = that, firstSeen kept. Each
  // later upsert: count + that, lastSeen/port/transport from the new entry, event = the new entry's (or "register" when
  // empty or "new-ip"), hostname/region/isp replaced when the new entry has them.
  void upsertIpLog(IpLogEntry e) { ops_.emplace_back(UpsertIpLog{std::move(e)}); }
  // Sets the non-empty hostname/region/isp on the existing (tenant, user, ip) row and nothing else (count,
  // lastSeen and event stay): late enrichment. No row (never written, or erased meanwhile): nothing happens.
  void enrichIpLog(std::string tenant, std::string user, std::string ip, std::string hostname, std::string region = {},
                   std::string isp = {}) {
    ops_.emplace_back(EnrichIpLog{std::move(tenant), std::move(user), std::move(ip), std::move(hostname),
                                  std::move(region), std::move(isp)});
  }
  // Replaces the (tenant, user, instance) device; keeps the earlier firstSeen when the device is already known.
  void putDevice(DeviceRecord d) { ops_.emplace_back(PutDevice{std::move(d)}); }
  // Deletes that one device, unless its MAC is provisioned (P2: provisioned devices survive unregister).
  void deleteDevice(std::string tenant, std::string user, std::string instance) {
    ops_.emplace_back(DeleteDevice{std::move(tenant), std::move(user), std::move(instance)});
  }
  // Keyed by uniqueId: a second put of the same id replaces the first; hiddenByUser and legalHold already set on
  // the stored CDR are kept (OR-ed), since capture does not know them. start == 0 is taken as "now".
  void putCdr(CdrRecord c) { ops_.emplace_back(PutCdr{std::move(c)}); }
  void audit(AuditRecord a) { ops_.emplace_back(Audit{std::move(a)}); }  // time == 0 is taken as "now"

  bool empty() const { return ops_.empty(); }
  std::size_t size() const { return ops_.size(); }
  void clear() { ops_.clear(); }
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
};

// The audit target naming a user: "user@tenant" (the AOR). eraseUser() writes it; exportUser() matches it.
inline std::string userTarget(const std::string& tenant, const std::string& user) {
  return user + "@" + tenant;
}

class Store {
 public:
  // Throws StoreError with a clear message: missing store (when !createIfMissing or readOnly), a missing key file
  // for an existing store, a key file of the wrong size or with permissions looser than 0600, a key that does not
  // match the store, an unknown schema version, a store locked by another process, or another RocksDB error.
  // The caller owns the returned store; destroying it closes RocksDB.
  static std::unique_ptr<Store> open(const StoreOptions& o);
  virtual ~Store() = default;

  // Every mutating function below throws StoreError when the store was opened readOnly. Const functions throw
  // StoreError when a value fails authentication (tampered, or moved to another key) or a RocksDB read fails.

  // Applies the batch atomically; returns false (and logs nothing) on a RocksDB error, filling `error`.
  virtual bool write(const Batch& b, std::string* error = nullptr) = 0;
  // fsync the WAL on every write() (default off; see the crash bound above).
  virtual void setSync(bool sync) = 0;

  // Devices.
  virtual std::vector<DeviceRecord> devices(const std::string& tenant, const std::string& user) const = 0;
  virtual std::vector<DeviceRecord> allDevices() const = 0;
  // Deletes devices whose expiresAt is before `now` unless their MAC is provisioned; returns how many.
  // (expiresAt == 0 counts as expired: a device without a known expiry is not kept forever.)
  virtual std::size_t sweepExpiredDevices(Millis now) = 0;

  // Provisioned devices.
  // Stores the MAC normalised ("aa:bb:cc:dd:ee:ff"); false when it is not a MAC (or on a RocksDB error).
  virtual bool addProvisioned(const ProvisionedDevice& p) = 0;
  virtual bool removeProvisioned(const std::string& mac) = 0;  // also deletes its DeviceRecord rows
  virtual std::vector<ProvisionedDevice> provisioned() const = 0;
  virtual bool isProvisioned(const std::string& mac) const = 0;

  // IP log (P1).
  virtual std::vector<IpLogEntry> ipLog(const std::string& tenant, const std::string& user) const = 0;

  // CDRs (P3). `includeHidden` = operator view.
  virtual std::vector<CdrRecord> cdrs(const std::string& tenant, const std::string& user, bool includeHidden) const = 0;
  virtual bool setCdrHidden(const std::string& uniqueId, bool hidden) = 0;
  virtual bool setCdrLegalHold(const std::string& uniqueId, bool hold) = 0;

  virtual std::vector<AuditRecord> auditLog() const = 0;

  // Every (tenant, user) that has any data.
  virtual std::vector<std::pair<std::string, std::string>> users() const = 0;

  // P5: everything about one user as one JSON document (nothing about anyone else).
  virtual std::string exportUser(const std::string& tenant, const std::string& user) const = 0;
  // P5: deletes all of the user's data except CDRs under legal hold; audits the erasure. Returns rows removed.
  virtual std::size_t eraseUser(const std::string& tenant, const std::string& user, const std::string& actor) = 0;

  // Retention: removes rows older than their kind's window now (also done continuously by compaction). The age
  // is taken from IpLogEntry::lastSeen, CdrRecord::start and AuditRecord::time against StoreOptions::clock; a
  // window <= 0 keeps rows forever. CDRs under legal hold are exempt (billing records). Returns rows removed.
  virtual std::size_t enforceRetention() = 0;
  // Age of the oldest record of a kind in ms (now - lastSeen for ip log and devices, now - start for CDRs,
  // now - time for audit, now - addedAt for provisioned), or nullopt when there is none (a metric). Legal-hold
  // CDRs are left out: they are exempt from retention and would otherwise mask a retention failure. Scans the
  // kind's clear value headers (no decryption); meant for a periodic metric, not a hot path.
  virtual std::optional<Millis> oldestRecordAge(Kind k) const = 0;

  // Runs a full compaction of every column family (the retention filter runs on it). For tests and tools.
  virtual void compactAll() = 0;
  // readOnly only: pick up what the primary wrote since open (RocksDB TryCatchUpWithPrimary); no-op otherwise.
  virtual void catchUp() = 0;

  // Flushes memtables and the WAL to disk (shutdown). No-op when readOnly.
  virtual void flush() = 0;
};

}  // namespace sipedge::store
