#include "registration_tracker.h"

#include <algorithm>
#include <cstring>

namespace sipedge::capture {

std::uint64_t RegistrationTracker::key(std::string_view callId, std::uint32_t cseq) const {
  unsigned char in[512 + sizeof cseq];
  const std::size_t n = std::min(callId.size(), std::size_t{512});  // longer Call-IDs: the prefix, then checked
  std::memcpy(in, callId.data(), n);
  std::memcpy(in + n, &cseq, sizeof cseq);
  return hash_(in, n + sizeof cseq);
}

bool RegistrationTracker::onRequest(RegisterSeen&& r) {
  const std::uint64_t k = key(r.callId, r.cseq);
  auto it = pending_.find(k);
  if (it != pending_.end()) {
    // A retransmission: keep the first. Another transaction on the same hash: it goes untracked.
    return it->second.callId == r.callId && it->second.cseq == r.cseq;
  }
  if (pending_.size() >= max_) return false;
  order_.emplace_back(r.time, k);
  pending_.emplace(k, std::move(r));
  return true;
}

void RegistrationTracker::onResponse(const RegisterAnswered& a, std::vector<RegistrationEvent>& out) {
  if (a.status < 200) return;
  auto it = pending_.find(key(a.callId, a.cseq));
  if (it == pending_.end() || it->second.callId != a.callId || it->second.cseq != a.cseq) return;
  RegisterSeen r = std::move(it->second);
  pending_.erase(it);
  if (a.status >= 300) return;

  // The REGISTER's values go into each event: copied, except into the last one, which takes them.
  auto base = [&](RegistrationEvent& e, bool last) {
    e.time = a.time;
    e.srcPort = r.srcPort;
    if (last) {
      e.tenant = std::move(r.tenant);
      e.user = std::move(r.user);
      e.userAgent = std::move(r.userAgent);
      e.srcIp = std::move(r.srcIp);
      e.transport = std::move(r.transport);
      return;
    }
    e.tenant = r.tenant;
    e.user = r.user;
    e.userAgent = r.userAgent;
    e.srcIp = r.srcIp;
    e.transport = r.transport;
  };
  if (r.wildcard) {
    RegistrationEvent e;
    base(e, true);
    e.wildcard = true;
    e.expires = 0;
    out.push_back(std::move(e));
    return;
  }
  for (std::size_t i = 0; i < r.contacts.size(); ++i) {
    ContactBinding& c = r.contacts[i];
    RegistrationEvent e;
    // What the registrar granted wins (it may shorten); else what the phone asked for.
    std::int64_t expires = -1;
    for (auto& g : a.granted)
      if (g.uri == c.uri || (!c.instance.empty() && g.instance == c.instance)) expires = g.expires;
    if (expires < 0 && c.expires >= 0) expires = c.expires;
    if (expires < 0) expires = a.expiresHeader >= 0 ? a.expiresHeader : r.expiresHeader;
    if (c.expires == 0 || (c.expires < 0 && r.expiresHeader == 0)) expires = 0;  // the phone asked to leave
    if (expires < 0) expires = kDefaultExpires;
    e.expires = expires;
    base(e, i + 1 == r.contacts.size());
    e.contact = std::move(c.uri);
    e.instance = std::move(c.instance);
    e.contactParams = std::move(c.params);
    out.push_back(std::move(e));
  }
}

void RegistrationTracker::expire(Millis now) {
  while (!order_.empty() && order_.front().first + ttl_ < now) {
    pending_.erase(order_.front().second);
    order_.pop_front();
  }
  // Keys answered long ago linger in order_ only; bound it too.
  while (order_.size() > 2 * max_ + 16) order_.pop_front();
}

}  // namespace sipedge::capture
