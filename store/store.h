// The one interface in front of RocksDB. Everything sipedge keeps goes through here; nothing else includes
// RocksDB headers. One column family per kind, keys carrying a version byte, sensitive values encrypted at rest,
// retention enforced by the store itself.
//
// Threading: one writer thread calls the mutating functions (capture's writer, or a tool); readers may call
// the const functions from any thread (they read a snapshot).
#pragma once

#include "records.h"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sipedge::store {

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Kind : std::uint8_t { IpLog, Device, Provisioned, Cdr, Audit };

struct Retention {
  std::chrono::hours ipLog{24 * 90};
  std::chrono::hours cdr{24 * 365};
  std::chrono::hours audit{24 * 365};
};

struct StoreOptions {
  std::string path;             // RocksDB directory (e.g. data_dir + "/store")
  std::string keyFile;          // 32-byte key; created (0600) when missing and createIfMissing
  bool createIfMissing = true;  // false for tools: a missing store is an error
  bool readOnly = false;        // tools reading while sipedge runs (secondary instance)
  Retention retention;
  std::function<Millis()> clock;  // injectable for tests; default system clock
};

// One atomic group of writes (a RocksDB WriteBatch, WAL on).
class Batch {
 public:
  void upsertIpLog(const IpLogEntry& e);  // merges with an existing (tenant, user, ip) row: count, lastSeen
  void putDevice(const DeviceRecord& d);
  void deleteDevice(const std::string& tenant, const std::string& user, const std::string& instance);
  void putCdr(const CdrRecord& c);
  void audit(const AuditRecord& a);
  bool empty() const { return ops_.empty(); }
  std::size_t size() const { return ops_.size(); }

  struct Op;  // defined by the implementation
 private:
  friend class Store;
  std::vector<std::shared_ptr<Op>> ops_;
};

class Store {
 public:
  // Throws StoreError with a clear message: missing store (when !createIfMissing), wrong or missing key,
  // corrupt data, or a RocksDB error.
  static std::unique_ptr<Store> open(const StoreOptions& o);
  virtual ~Store() = default;

  // Applies the batch atomically; returns false (and logs nothing) on a RocksDB error, filling `error`.
  virtual bool write(const Batch& b, std::string* error = nullptr) = 0;

  // Devices.
  virtual std::vector<DeviceRecord> devices(const std::string& tenant, const std::string& user) const = 0;
  virtual std::vector<DeviceRecord> allDevices() const = 0;
  // Deletes devices whose expiresAt is before `now` unless their MAC is provisioned; returns how many.
  virtual std::size_t sweepExpiredDevices(Millis now) = 0;

  // Provisioned devices.
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

  // Retention: removes rows older than their kind's window now (also done continuously by compaction).
  virtual std::size_t enforceRetention() = 0;
  // Age of the oldest record of a kind in ms, or nullopt when there is none (a metric).
  virtual std::optional<Millis> oldestRecordAge(Kind k) const = 0;

  // Flushes memtables and the WAL to disk (shutdown).
  virtual void flush() = 0;
};

}  // namespace sipedge::store
