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
#include <string_view>

#include "crypto.h"

namespace sipedge::store {

constexpr char kKeyVersion = 1;

class KeyCodec {
 public:
  static constexpr std::size_t kUserPrefixSize = 1 + 2 * KeyRing::kHashSize;

  explicit KeyCodec(const KeyRing& k) : k_(k) {}

  std::string userPrefix(const std::string& tenant, const std::string& user) const {
    std::string out;
    out.reserve(kUserPrefixSize + KeyRing::kHashSize + 8);  // room for the row part appended by the writer
    out.push_back(kKeyVersion);
    k_.appendHash(&out, 'T', {tenant});
    k_.appendHash(&out, 'U', {tenant, user});
    return out;
  }
  std::string ipLog(const std::string& tenant, const std::string& user, const std::string& ip) const {
    return ipLogUnder(userPrefix(tenant, user), tenant, user, ip);
  }
  std::string device(const std::string& tenant, const std::string& user, const std::string& instance) const {
    return deviceUnder(userPrefix(tenant, user), tenant, user, instance);
  }
  std::string cdr(const std::string& tenant, const std::string& user, Millis start, const std::string& id) const {
    return cdrUnder(userPrefix(tenant, user), start, id);
  }
  // The same keys from a userPrefix(tenant, user) the caller already has (the writer keeps them per user, so a
  // user's rows cost one hash each instead of three).
  std::string ipLogUnder(std::string_view userPrefix, const std::string& tenant, const std::string& user,
                         const std::string& ip) const {
    std::string out = rowKey(userPrefix, 0);
    k_.appendHash(&out, 'I', {tenant, user, ip});
    return out;
  }
  std::string deviceUnder(std::string_view userPrefix, const std::string& tenant, const std::string& user,
                          const std::string& instance) const {
    std::string out = rowKey(userPrefix, 0);
    k_.appendHash(&out, 'D', {tenant, user, instance});
    return out;
  }
  std::string cdrUnder(std::string_view userPrefix, Millis start, const std::string& id) const {
    std::string out = rowKey(userPrefix, 8);
    appendTime(&out, start);
    k_.appendHash(&out, 'C', {id});
    return out;
  }
  std::string cdrId(const std::string& id) const { return std::string(1, kKeyVersion) + k_.hash('C', {id}); }
  // `mac` as capture::normaliseMac gives it ("aa:bb:cc:dd:ee:ff"): one key per device however it is spelled.
  std::string provisioned(const std::string& mac) const { return std::string(1, kKeyVersion) + k_.hash('M', {mac}); }
  static std::string audit(Millis time, const std::string& random8) {
    std::string out(1, kKeyVersion);
    appendTime(&out, time);
    return out + random8;
  }
  static std::string meta(const char* name) { return std::string(1, kKeyVersion) + name; }

 private:
  static std::string rowKey(std::string_view userPrefix, std::size_t extra) {
    std::string out;
    out.reserve(userPrefix.size() + extra + KeyRing::kHashSize);
    out.append(userPrefix);
    return out;
  }
  const KeyRing& k_;
};

// The smallest key greater than every key with this prefix ("" when there is none).
std::string prefixEnd(std::string prefix);

}  // namespace sipedge::store
