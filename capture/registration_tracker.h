// Pairs each REGISTER a phone sends with the PBX's answer: only a 2xx makes a registration (or an unregister)
// real. Per worker, no locks: the REGISTER and its response pass through the same worker (our Via names it).
#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "events.h"
#include "keyed_hash.h"

namespace sipedge::capture {

struct ContactBinding {
  std::string uri;
  std::string instance;
  std::string params;
  std::int64_t expires = -1;  // the Contact's expires parameter, -1 when absent
};

struct RegisterSeen {
  Millis time = 0;
  std::string callId;
  std::uint32_t cseq = 0;
  std::string tenant, user;
  std::vector<ContactBinding> contacts;
  std::int64_t expiresHeader = -1;  // Expires header, -1 when absent
  bool wildcard = false;
  std::string userAgent;
  std::string srcIp;
  std::uint16_t srcPort = 0;
  std::string transport;
};

struct RegisterAnswered {
  Millis time = 0;
  std::string callId;
  std::uint32_t cseq = 0;
  int status = 0;
  std::vector<ContactBinding> granted;  // the registrar's Contact list with the expires it granted
  std::int64_t expiresHeader = -1;
};

class RegistrationTracker {
 public:
  static constexpr std::int64_t kDefaultExpires = 3600;  // RFC 3261 §10.2.1.1 leaves it to the registrar

  RegistrationTracker(std::size_t maxPending, Millis pendingTtl) : max_(maxPending), ttl_(pendingTtl) {}

  // Remembers a REGISTER on its way to the PBX. Returns false when the table is full (counted by the caller).
  bool onRequest(RegisterSeen&& r);
  // For a final response: appends one event per binding of a 2xx; forgets the REGISTER either way.
  void onResponse(const RegisterAnswered& a, std::vector<RegistrationEvent>& out);
  // Forgets REGISTERs the PBX never answered.
  void expire(Millis now);
  std::size_t pending() const { return pending_.size(); }

 private:
  // (Call-ID, CSeq) as a keyed 64-bit hash (SipHash, key random per tracker): no key string per REGISTER, and a
  // sender cannot aim two transactions at one entry. An entry also keeps its Call-ID and CSeq, which every
  // lookup checks, so a collision can only make one REGISTER go untracked, never mix two up.
  std::uint64_t key(std::string_view callId, std::uint32_t cseq) const;

  std::size_t max_;
  Millis ttl_;
  KeyedHash hash_;
  std::unordered_map<std::uint64_t, RegisterSeen> pending_;
  std::deque<std::pair<Millis, std::uint64_t>> order_;  // arrival order, for expiry
};

}  // namespace sipedge::capture
