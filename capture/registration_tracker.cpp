#include "registration_tracker.h"

namespace sipedge::capture {

bool RegistrationTracker::onRequest(RegisterSeen&& r) {
  std::string k = key(r.callId, r.cseq);
  auto it = pending_.find(k);
  if (it != pending_.end()) {  // a retransmission: keep the first
    return true;
  }
  if (pending_.size() >= max_) return false;
  order_.emplace_back(r.time, k);
  pending_.emplace(std::move(k), std::move(r));
  return true;
}

void RegistrationTracker::onResponse(const RegisterAnswered& a, std::vector<RegistrationEvent>& out) {
  if (a.status < 200) return;
  auto it = pending_.find(key(a.callId, a.cseq));
  if (it == pending_.end()) return;
  RegisterSeen r = std::move(it->second);
  pending_.erase(it);
  if (a.status >= 300) return;

  auto base = [&](RegistrationEvent& e) {
    e.time = a.time;
    e.tenant = r.tenant;
    e.user = r.user;
    e.userAgent = r.userAgent;
    e.srcIp = r.srcIp;
    e.srcPort = r.srcPort;
    e.transport = r.transport;
  };
  if (r.wildcard) {
    RegistrationEvent e;
    base(e);
    e.wildcard = true;
    e.expires = 0;
    out.push_back(std::move(e));
    return;
  }
  for (auto& c : r.contacts) {
    RegistrationEvent e;
    base(e);
    e.contact = c.uri;
    e.instance = c.instance;
    e.contactParams = c.params;
    // What the registrar granted wins (it may shorten); else what the phone asked for.
    std::int64_t expires = -1;
    for (auto& g : a.granted)
      if (g.uri == c.uri || (!c.instance.empty() && g.instance == c.instance)) expires = g.expires;
    if (expires < 0 && c.expires >= 0) expires = c.expires;
    if (expires < 0) expires = a.expiresHeader >= 0 ? a.expiresHeader : r.expiresHeader;
    if (c.expires == 0 || (c.expires < 0 && r.expiresHeader == 0)) expires = 0;  // the phone asked to leave
    if (expires < 0) expires = kDefaultExpires;
    e.expires = expires;
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
