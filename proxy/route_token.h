// Seals a phone's real address into the `dst` parameter of the Path and Record-Route URIs sipedge writes, so
// the PBX reaches the phone back without sipedge keeping per-registration state. The token is encrypted and
// authenticated (ChaCha20-Poly1305): other phones that see our Record-Route learn nothing, and nobody can forge
// a destination. The key lives in data_dir so registrations survive a restart.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "endpoint.h"

namespace sipedge::proxy {

class RouteToken {
 public:
  static constexpr std::size_t kKeyBytes = 32;
  using Key = std::array<unsigned char, kKeyBytes>;

  explicit RouteToken(const Key& key);

  // base64url text, safe in a URI parameter. The same endpoint gets the same token for up to kReuseSeconds (each
  // worker thread remembers what it sealed lately), so an INVITE's two Record-Routes and a phone's calls in a
  // row cost one encryption.
  std::string seal(const Endpoint& e) const;
  // nullopt when the token was not made with our key or is malformed. Tokens this thread sealed or opened
  // lately are answered from memory (ACK, BYE and re-INVITE carry the INVITE's token back).
  std::optional<Endpoint> open(std::string_view token) const;

  static constexpr std::int64_t kReuseSeconds = 60;
  static constexpr std::size_t kCacheEntries = 1024;  // per thread and direction; cleared when full

  // Reads the key file, or creates it (mode 0600) with a random key. Throws std::runtime_error naming the path
  // when it cannot (start-up only).
  static Key loadOrCreateKey(const std::string& path);

 private:
  std::string sealFresh(const Endpoint& e) const;
  std::optional<Endpoint> openFresh(std::string_view token) const;

  Key key_;
  std::uint64_t id_;  // tells this instance's cached tokens from another key's
};

}  // namespace sipedge::proxy
