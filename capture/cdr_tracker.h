// Builds one CDR per call leg on the proxy's dialog table (proxy/dialog_table.h): the facts of the initial INVITE
// when its dialog opens, kept in the dialog's Cdr slot, and the rest (answer, end, last request and status,
// disposition) from the dialog when it ends: at BYE, at a final failure, or when the table expires it.
#pragma once

#include <optional>
#include <string>

#include "proxy/dialog_table.h"
#include "store/records.h"

namespace sipedge::capture {

using store::CdrRecord;
using store::Millis;

// What the capture tap copies from an initial INVITE (no To tag).
struct CallRequest {
  Millis time = 0;
  std::string tenant, owner;  // whose CDR it is (the access-side account)
  std::string callerId, source, destination, context, srcChannel, dstChannel;
};

class CdrTracker {
 public:
  explicit CdrTracker(unsigned worker) : worker_(worker) {}

  // Starts the CDR of dialog `d`, which the initial INVITE `r` just opened (the dialog owns it from now on).
  void open(proxy::Dialog& d, const CallRequest& r);
  // The finished CDR of `d`, which ended for `why` at `now`; nullopt when `d` has none.
  std::optional<CdrRecord> close(const proxy::Dialog& d, proxy::DialogEnd why, Millis now) const;

 private:
  std::string newId(Millis now);

  unsigned worker_;
  std::uint64_t seq_ = 0;
};

// Maps a final failure status to a CDR disposition (486/600/603 busy, 408/480 no answer, …).
store::Disposition dispositionFor(int status, bool cancelled);

}  // namespace sipedge::capture
