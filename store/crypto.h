// Key file handling and the at-rest envelope. One 32-byte master key (the key file) yields, through libsodium's
// KDF, a BLAKE2b key for the hashed key components and an XChaCha20-Poly1305 key for values. Losing the key file
// makes the store unreadable by design. Internal to store/.
#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "records.h"

namespace sipedge::store {

class KeyRing {
 public:
  static constexpr std::size_t kHashSize = 16;

  // Loads the key file, or creates it (32 random bytes, mode 0600, parent directories 0700) when it is missing and
  // `create`. Throws StoreError for a missing file (!create), a non-regular file, a size other than 32 bytes, or
  // permissions looser than 0600 (any group/other bit). The returned ring owns a copy of the key, wiped on delete.
  static std::unique_ptr<KeyRing> fromFile(const std::string& path, bool create);

  explicit KeyRing(const std::array<unsigned char, 32>& master);
  ~KeyRing();
  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;

  // A keyed hash (kHashSize bytes) of a tag and length-prefixed parts: the same parts give the same bytes for
  // this key only, and ("ab","c") never collides with ("a","bc").
  std::string hash(char tag, std::initializer_list<std::string_view> parts) const;
  // The same bytes, appended to `out` (no allocation when `out` has room). Thread-safe, like hash().
  void appendHash(std::string* out, char tag, std::initializer_list<std::string_view> parts) const;

  // nonce (24 random bytes) || ciphertext || tag (16). `ad` is authenticated, not stored.
  std::string seal(std::string_view ad, std::string_view plain) const;
  // The same envelope appended to `out`.
  void appendSealed(std::string* out, std::string_view ad, std::string_view plain) const;
  // False when the value is too short or fails authentication (wrong key, tampered, or a different `ad`).
  bool open(std::string_view ad, std::string_view sealed, std::string* plain) const;

 private:
  std::array<unsigned char, crypto_aead_xchacha20poly1305_ietf_KEYBYTES> aeadKey_{};
  std::array<unsigned char, crypto_generichash_KEYBYTES> hashKey_{};
  // BLAKE2b state right after the keyed init (the key block is already compressed): each hash copies it instead
  // of compressing the key again. Key material: wiped on delete like the keys.
  crypto_generichash_state hashInit_{};
};

// The clear header every stored value starts with: [version=1][flags][retention time, 8 bytes big-endian,
// sign bit flipped]. Readable without the key so the compaction filter can apply retention; authenticated as
// part of the associated data, so it cannot be changed without the value failing to open.
struct ValueHeader {
  static constexpr std::uint8_t kLegalHold = 0x01;
  std::uint8_t flags = 0;
  Millis time = 0;
};
constexpr std::size_t kValueHeaderSize = 10;

bool parseHeader(std::string_view value, ValueHeader* h);

// cfTag names the column family, so a value is bound to (column family, key, header).
std::string sealValue(const KeyRing& k, std::uint8_t cfTag, std::string_view key, ValueHeader h,
                      std::string_view plain);
bool openValue(const KeyRing& k, std::uint8_t cfTag, std::string_view key, std::string_view value, std::string* plain,
               ValueHeader* h = nullptr);

// Big-endian with the sign bit flipped: byte order equals numeric order, negatives included.
void appendTime(std::string* out, Millis t);
Millis readTime(std::string_view eightBytes);

}  // namespace sipedge::store
