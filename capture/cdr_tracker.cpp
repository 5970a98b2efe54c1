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

namespace {

// The CDR a dialog carries while it lasts.
struct CallRecord final : proxy::DialogExtension {
  CdrRecord cdr;
};

}  // namespace

void CdrTracker::open(proxy::Dialog& d, const CallRequest& r) {
  auto rec = std::make_unique<CallRecord>();
  CdrRecord& c = rec->cdr;
  c.uniqueId = newId(r.time);
  c.tenant = r.tenant;
  c.user = r.owner;
  c.callerId = r.callerId;
  c.source = r.source;
  c.destination = r.destination;
  c.context = r.context;
  c.srcChannel = r.srcChannel;
  c.dstChannel = r.dstChannel;
  c.start = r.time;
  d.ext[proxy::Dialog::Cdr] = std::move(rec);
}

std::optional<CdrRecord> CdrTracker::close(const proxy::Dialog& d, proxy::DialogEnd why, Millis now) const {
  const auto* rec = d.get<CallRecord>(proxy::Dialog::Cdr);
  if (!rec) return std::nullopt;
  CdrRecord c = rec->cdr;
  c.answer = d.answered;
  c.end = now;
  c.lastApp = d.lastRequest;
  c.lastData = d.finalStatus ? std::to_string(d.finalStatus) : std::string();
  switch (why) {
    case proxy::DialogEnd::Bye:
      c.disposition = d.answered ? store::Disposition::Answered : dispositionFor(0, d.cancelled);
      break;
    case proxy::DialogEnd::Rejected:
      c.disposition = dispositionFor(d.finalStatus, d.cancelled);
      break;
    case proxy::DialogEnd::SetupTimeout:
    case proxy::DialogEnd::MaxDuration:
      c.disposition = store::Disposition::TimedOut;
      break;
  }
  c.billsec = c.answer > 0 && now > c.answer ? (now - c.answer) / 1000 : 0;
  return c;
}

}  // namespace sipedge::capture
