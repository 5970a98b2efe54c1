// Follows the INVITE dialogs a worker forwards and closes each into one CDR: answered calls at BYE, failed
// ones at their final response, and calls that never see their BYE after `maxDuration`. Per worker, no locks:
// a dialog's requests and responses come back to the worker that forwarded its INVITE.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "store/records.h"

namespace sipedge::capture {

using store::CdrRecord;
using store::Millis;

struct CallRequest {
  Millis time = 0;
  std::string method;  // INVITE, BYE, CANCEL, ACK, …
  std::string callId, fromTag, toTag;
  // Only for an initial INVITE (no To tag):
  std::string tenant, owner;  // whose CDR it is (the access-side account)
  std::string callerId, source, destination, context, srcChannel, dstChannel;
};

struct CallResponse {
  Millis time = 0;
  std::string callId, fromTag;
  std::string cseqMethod;
  int status = 0;
};

class CdrTracker {
 public:
  CdrTracker(unsigned worker, Millis maxDuration, Millis setupTimeout, std::size_t maxDialogs)
      : worker_(worker), maxDuration_(maxDuration), setupTimeout_(setupTimeout), max_(maxDialogs) {}

  // Returns false when a new dialog could not be tracked (table full; counted by the caller).
  bool onRequest(const CallRequest& r, std::vector<CdrRecord>& closed);
  void onResponse(const CallResponse& r, std::vector<CdrRecord>& closed);
  // Closes dialogs past their maximum duration (answered) or setup timeout (never answered).
  void sweep(Millis now, std::vector<CdrRecord>& closed);
  std::size_t size() const { return dialogs_.size(); }

 private:
  struct Leg {
    CdrRecord cdr;
    bool cancelled = false;
  };
  static std::string key(const std::string& callId, const std::string& tag) { return callId + '\x1f' + tag; }
  void close(Leg& leg, Millis end, store::Disposition d, std::vector<CdrRecord>& closed);
  std::string newId(Millis now);

  unsigned worker_;
  Millis maxDuration_;
  Millis setupTimeout_;
  std::size_t max_;
  std::uint64_t seq_ = 0;
  // Call-ID + caller's tag → the legs of that call this worker forwarded (two when a proxy PBX sends the
  // call back through sipedge to another phone).
  std::unordered_map<std::string, std::vector<Leg>> dialogs_;
};

// Maps a final failure status to a CDR disposition (486/600/603 busy, 408/480 no answer, …).
store::Disposition dispositionFor(int status, bool cancelled);

}  // namespace sipedge::capture
