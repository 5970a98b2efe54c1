// The packed value codec: each record is a version byte then its fields in a fixed order, integers as LEB128
// varints (signed ones zig-zagged), strings length-prefixed. Hand-written on purpose (no protobuf); a new field
// means a new version byte and a decoder that still reads the old one. Internal to store/.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "records.h"

namespace sipedge::store::codec {

class Writer {
 public:
  explicit Writer(std::uint8_t version) {
    out_.reserve(kTypicalRecord);  // one allocation for a typical record instead of one per doubling
    out_.push_back(static_cast<char>(version));
  }
  Writer& u64(std::uint64_t v);
  Writer& i64(std::int64_t v) {
    return u64((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63));
  }
  Writer& str(std::string_view s);
  Writer& flag(bool b) { return u64(b ? 1 : 0); }
  std::string take() { return std::move(out_); }

 private:
  static constexpr std::size_t kTypicalRecord = 256;
  std::string out_;
};

// Reads what Writer wrote; any overrun or malformed varint makes ok() false (and later reads return zero/empty),
// so a decoder reads every field and checks once at the end. Never reads past the view it was given.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  std::uint8_t byte();
  std::uint64_t u64();
  std::int64_t i64() {
    std::uint64_t u = u64();
    return static_cast<std::int64_t>(u >> 1) ^ -static_cast<std::int64_t>(u & 1);
  }
  std::string str();
  bool flag() { return u64() != 0; }
  std::uint16_t u16();
  std::uint32_t u32();
  bool ok() const { return ok_; }
  bool done() const { return ok_ && in_.empty(); }  // everything read, nothing left over

 private:
  std::uint64_t fail() {
    ok_ = false;
    in_ = {};
    return 0;
  }
  std::string_view in_;
  bool ok_ = true;
};

std::string encode(const IpLogEntry& e);
std::string encode(const DeviceRecord& d);
std::string encode(const ProvisionedDevice& p);
std::string encode(const CdrRecord& c);
std::string encode(const AuditRecord& a);

// Return false on a malformed value or an unknown version; `out` is then unspecified.
bool decode(std::string_view in, IpLogEntry* out);
bool decode(std::string_view in, DeviceRecord* out);
bool decode(std::string_view in, ProvisionedDevice* out);
bool decode(std::string_view in, CdrRecord* out);
bool decode(std::string_view in, AuditRecord* out);

}  // namespace sipedge::store::codec
