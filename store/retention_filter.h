// RetentionFilter: the compaction filter that makes retention the store's own job. It drops, during every
// compaction (and flush) of its column family, each value whose clear header time is older than the window,
// unless the header carries the legal-hold flag. Reads only the clear header: needs no key. Internal to store/.
#pragma once

#include <rocksdb/compaction_filter.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "crypto.h"

namespace sipedge::store {

// The one rule, shared with Store::enforceRetention so both paths agree. Unparseable headers are kept (never
// destroy what we cannot classify).
inline bool retentionExpired(std::string_view value, Millis cutoff) {
  ValueHeader h;
  if (!parseHeader(value, &h)) return false;
  if (h.flags & ValueHeader::kLegalHold) return false;
  return h.time < cutoff;
}

// Every row the filter drops bumps `drops` (when given) before the compaction's output can be read: the store's
// writer-side row cache compares it to know that rows may have left the database behind its back.
class RetentionFilter final : public rocksdb::CompactionFilter {
 public:
  explicit RetentionFilter(Millis cutoff, std::atomic<std::uint64_t>* drops = nullptr)
      : cutoff_(cutoff), drops_(drops) {}
  bool Filter(int /*level*/, const rocksdb::Slice& /*key*/, const rocksdb::Slice& value, std::string* /*newValue*/,
              bool* /*valueChanged*/) const override {
    const bool drop = retentionExpired(std::string_view(value.data(), value.size()), cutoff_);
    if (drop && drops_) drops_->fetch_add(1, std::memory_order_acq_rel);
    return drop;
  }
  const char* Name() const override { return "sipedge.RetentionFilter"; }

 private:
  Millis cutoff_;
  std::atomic<std::uint64_t>* drops_;
};

// One filter per compaction, with the cutoff taken from the clock when the compaction starts. `clock` is called
// from RocksDB's background threads.
class RetentionFilterFactory final : public rocksdb::CompactionFilterFactory {
 public:
  // `drops` (optional) is shared with the store and outlives every filter this factory makes.
  RetentionFilterFactory(std::function<Millis()> clock, Millis windowMs,
                         std::shared_ptr<std::atomic<std::uint64_t>> drops = nullptr)
      : clock_(std::move(clock)), window_(windowMs), drops_(std::move(drops)) {}
  std::unique_ptr<rocksdb::CompactionFilter> CreateCompactionFilter(
      const rocksdb::CompactionFilter::Context& /*context*/) override {
    return std::make_unique<RetentionFilter>(clock_() - window_, drops_.get());
  }
  bool ShouldFilterTableFileCreation(rocksdb::TableFileCreationReason reason) const override {
    return reason == rocksdb::TableFileCreationReason::kCompaction ||
           reason == rocksdb::TableFileCreationReason::kFlush;
  }
  const char* Name() const override { return "sipedge.RetentionFilterFactory"; }

 private:
  std::function<Millis()> clock_;
  Millis window_;
  std::shared_ptr<std::atomic<std::uint64_t>> drops_;
};

}  // namespace sipedge::store
