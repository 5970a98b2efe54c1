// A keyed 64-bit hash (SipHash-2-4 via libsodium's crypto_shorthash) with a key random per instance: table keys
// and fingerprints a sender cannot aim at one another, without key strings. Header-only; used by the trackers
// and the writer.
#pragma once

#include <sodium.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string_view>

namespace sipedge::capture {

class KeyedHash {
 public:
  KeyedHash() {
    if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
    randombytes_buf(key_, sizeof key_);
  }
  std::uint64_t operator()(const void* data, std::size_t len) const {
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, static_cast<const unsigned char*>(data), len, key_);
    std::uint64_t h;
    std::memcpy(&h, out, sizeof h);
    return h;
  }
  std::uint64_t operator()(std::string_view bytes) const { return (*this)(bytes.data(), bytes.size()); }

 private:
  unsigned char key_[crypto_shorthash_KEYBYTES];
};

}  // namespace sipedge::capture
