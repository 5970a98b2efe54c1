// The key layout, in one place. Every key starts with kKeyVersion; identifiers appear only as keyed hashes
// (KeyRing::hash, 16 bytes, tag-separated), the real values live in the encrypted value.
//
//   iplog        v | H(T,tenant) | H(U,tenant,user) | H(I,tenant,user,ip)
//   device       v | H(T,tenant) | H(U,tenant,user) | H(D,tenant,user,instance)
//   cdr          v | H(T,tenant) | H(U,tenant,user) | start(8, time order) | H(C,uniqueId)
//   cdr_id       v | H(C,uniqueId)                        -> value: the cdr key (index for hide/hold by id)
//   provisioned  v | H(M,normalised mac)
//   audit        v | time(8) | 8 random bytes
//   meta         v | "schema" (clear "1") ; v | "keycheck" (sealed constant)
//
// So a tenant is a prefix, a user is a prefix under it, a user's CDRs come in time order and the audit log is time
// ordered. Hashes include tenant and user, so the same IP or instance under two users gives unrelated keys.
#pragma once

#include <string>

#include "crypto.h"

namespace sipedge::store {

constexpr char kKeyVersion = 1;

class KeyCodec {
 public:
  explicit KeyCodec(const KeyRing& k) : k_(k) {}

  std::string tenantPrefix(const std::string& tenant) const {
    std::string out(1, kKeyVersion);
    out += k_.hash('T', {tenant});
    return out;
  }
  std::string userPrefix(const std::string& tenant, const std::string& user) const {
    return tenantPrefix(tenant) + k_.hash('U', {tenant, user});
  }
  std::string ipLog(const std::string& tenant, const std::string& user, const std::string& ip) const {
    return userPrefix(tenant, user) + k_.hash('I', {tenant, user, ip});
  }
  std::string device(const std::string& tenant, const std::string& user, const std::string& instance) const {
    return userPrefix(tenant, user) + k_.hash('D', {tenant, user, instance});
  }
  std::string cdr(const std::string& tenant, const std::string& user, Millis start, const std::string& id) const {
    std::string out = userPrefix(tenant, user);
    appendTime(&out, start);
    return out + k_.hash('C', {id});
  }
  std::string cdrId(const std::string& id) const { return std::string(1, kKeyVersion) + k_.hash('C', {id}); }
  std::string provisioned(const std::string& mac) const {
    return std::string(1, kKeyVersion) + k_.hash('M', {normaliseMac(mac)});
  }
  static std::string audit(Millis time, const std::string& random8) {
    std::string out(1, kKeyVersion);
    appendTime(&out, time);
    return out + random8;
  }
  static std::string meta(const char* name) { return std::string(1, kKeyVersion) + name; }

  // "AA-BB-CC-DD-EE-FF", "aabb.ccdd.eeff", "AABBCCDDEEFF" → "aa:bb:cc:dd:ee:ff"; anything else lower-cased as is.
  static std::string normaliseMac(const std::string& mac);
  // True for a normalised MAC ("aa:bb:cc:dd:ee:ff").
  static bool isMac(const std::string& normalised);

 private:
  const KeyRing& k_;
};

// The smallest key greater than every key with this prefix ("" when there is none).
std::string prefixEnd(std::string prefix);

}  // namespace sipedge::store
