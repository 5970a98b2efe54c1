#include "cdr_tracker.h"

#include <cstdio>

namespace sipedge::capture {

store::Disposition dispositionFor(int status, bool cancelled) {
  using D = store::Disposition;
  if (status >= 200 && status < 300) return D::Answered;
  if (cancelled && status == 487) return D::Cancelled;
  switch (status) {
    case 486:
    case 600:
    case 603:
      return D::Busy;
    case 408:
    case 480:
    case 487:
      return D::NoAnswer;
    default:
      return D::Failed;
  }
}

std::string CdrTracker::newId(Millis now) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "se-%llx-%02x-%llx", static_cast<unsigned long long>(now), worker_ & 0xff,
                static_cast<unsigned long long>(++seq_));
  return buf;
}

void CdrTracker::close(Leg& leg, Millis end, store::Disposition d, std::vector<CdrRecord>& closed) {
  leg.cdr.end = end;
  leg.cdr.disposition = d;
  leg.cdr.billsec = leg.cdr.answer > 0 && end > leg.cdr.answer ? (end - leg.cdr.answer) / 1000 : 0;
  closed.push_back(leg.cdr);
}

bool CdrTracker::onRequest(const CallRequest& r, std::vector<CdrRecord>& closed) {
  if (r.method == "INVITE" && r.toTag.empty()) {
    auto& legs = dialogs_[key(r.callId, r.fromTag)];
    for (auto& l : legs)
      if (l.cdr.context == r.context) return true;  // a retransmission of this leg
    if (dialogs_.size() > max_) {
      if (legs.empty()) dialogs_.erase(key(r.callId, r.fromTag));
      return false;
    }
    Leg leg;
    CdrRecord& c = leg.cdr;
    c.uniqueId = newId(r.time);
    c.tenant = r.tenant;
    c.user = r.owner;
    c.callerId = r.callerId;
    c.source = r.source;
    c.destination = r.destination;
    c.context = r.context;
    c.srcChannel = r.srcChannel;
    c.dstChannel = r.dstChannel;
    c.lastApp = "INVITE";
    c.start = r.time;
    legs.push_back(std::move(leg));
    return true;
  }
  // In-dialog: BYE may come from either side, so the caller's tag is in From or in To.
  for (const std::string* tag : {&r.fromTag, &r.toTag}) {
    if (tag->empty()) continue;
    auto it = dialogs_.find(key(r.callId, *tag));
    if (it == dialogs_.end()) continue;
    for (auto& l : it->second) {
      if (r.method == "BYE") {
        l.cdr.lastApp = "BYE";
        close(l, r.time, l.cdr.answer ? store::Disposition::Answered : dispositionFor(0, l.cancelled), closed);
      } else if (r.method == "CANCEL") {
        l.cancelled = true;
        l.cdr.lastApp = "CANCEL";
      }
    }
    if (r.method == "BYE") dialogs_.erase(it);
    return true;
  }
  return true;
}

void CdrTracker::onResponse(const CallResponse& r, std::vector<CdrRecord>& closed) {
  if (r.cseqMethod != "INVITE" || r.status < 200) return;
  auto it = dialogs_.find(key(r.callId, r.fromTag));
  if (it == dialogs_.end()) return;
  auto& legs = it->second;
  for (auto& l : legs) {
    if (r.status < 300) {
      if (!l.cdr.answer) {
        l.cdr.answer = r.time;
        l.cdr.lastData = std::to_string(r.status);
      }
    } else if (!l.cdr.answer) {
      l.cdr.lastData = std::to_string(r.status);
      close(l, r.time, dispositionFor(r.status, l.cancelled), closed);
      l.cdr.uniqueId.clear();  // marks the leg closed
    }
  }
  std::erase_if(legs, [](const Leg& l) { return l.cdr.uniqueId.empty(); });
  if (legs.empty()) dialogs_.erase(it);
}

void CdrTracker::sweep(Millis now, std::vector<CdrRecord>& closed) {
  for (auto it = dialogs_.begin(); it != dialogs_.end();) {
    auto& legs = it->second;
    for (auto& l : legs) {
      bool answered = l.cdr.answer > 0;
      if ((answered && now - l.cdr.answer >= maxDuration_) || (!answered && now - l.cdr.start >= setupTimeout_)) {
        close(l, now, store::Disposition::TimedOut, closed);
        l.cdr.uniqueId.clear();
      }
    }
    std::erase_if(legs, [](const Leg& l) { return l.cdr.uniqueId.empty(); });
    it = legs.empty() ? dialogs_.erase(it) : std::next(it);
  }
}

}  // namespace sipedge::capture
