// Seals a phone's real address into the `dst` parameter of the Path and Record-Route URIs sipedge writes, so
// the PBX reaches the phone back without sipedge keeping per-registration state. The token is encrypted and
// authenticated (ChaCha20-Poly1305): other phones that see our Record-Route learn nothing, and nobody can forge
// a destination. The key lives in data_dir so registrations survive a restart.
#pragma once

#include "endpoint.h"

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace sipedge::proxy {

class RouteToken {
 public:
  static constexpr std::size_t kKeyBytes = 32;
  using Key = std::array<unsigned char, kKeyBytes>;

  explicit RouteToken(const Key& key) : key_(key) {}

  // base64url text, safe in a URI parameter.
  std::string seal(const Endpoint& e) const;
  // nullopt when the token was not made with our key or is malformed.
  std::optional<Endpoint> open(std::string_view token) const;

  // Reads the key file, or creates it (mode 0600) with a random key. Throws std::runtime_error naming the path
  // when it cannot (start-up only).
  static Key loadOrCreateKey(const std::string& path);

 private:
  Key key_;
};

}  // namespace sipedge::proxy
