// A worker's dialog table: the INVITE dialogs this worker forwarded, from the initial INVITE to their end, so
// features that need per-call state (CDRs today; caller-ID restore and media later) have one place to keep it.
// Per worker and lock-free by construction: a dialog's requests and responses return to the worker that forwarded
// its INVITE (our Via and Record-Route name that worker's socket). Bounded in count and expiring: a dialog never
// answered ends after the setup timeout, an answered one without BYE after the maximum call duration.
//
// Keyed by Call-ID + the caller's tag (the From tag of the initial INVITE). One key can hold several legs: a
// call that passes sipedge twice (phone → PBX, then PBX → phone, when the PBX proxies it) is one leg per pass,
// told apart by `leg` (the zones it crossed). The callee's tags are kept per leg: every 1xx with a To tag is an
// early dialog (several when the call forks), the 2xx confirms one.
//
// No sofia types here: the stages (proxy/stages/dialog.cpp) read the message and call this table.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sipedge::proxy {

using Millis = std::int64_t;

// What a feature keeps in a dialog; owned by the dialog and destroyed with it.
struct DialogExtension {
  virtual ~DialogExtension() = default;
};

enum class DialogState : std::uint8_t {
  Trying,     // INVITE forwarded, no callee tag yet
  Early,      // a 1xx with a To tag (one or more early dialogs)
  Confirmed,  // a 2xx
};

// Why a dialog ended.
enum class DialogEnd : std::uint8_t {
  Bye,           // BYE from either side (also an early BYE)
  Rejected,      // a final response >= 300 before any 2xx (487 after CANCEL included)
  SetupTimeout,  // no final response within the setup timeout
  MaxDuration,   // answered, no BYE within the maximum call duration
};

struct Dialog {
  // The slots features use; one owner each.
  enum Slot : std::uint8_t { Cdr, kSlots };

  std::string leg;  // which pass through sipedge, e.g. "access->core"
  DialogState state = DialogState::Trying;
  bool cancelled = false;
  bool ended = false;  // set as it ends; the table forgets it right after
  Millis start = 0, answered = 0;
  int finalStatus = 0;                 // the first final response (2xx, or the failure that ended it); 0 = none
  std::string lastRequest = "INVITE";  // INVITE, CANCEL or BYE: the last of them seen
  std::vector<std::string> earlyTags;  // callee tags of 1xx responses (forked early dialogs), at most kMaxEarly
  std::string calleeTag;               // the tag of the 2xx
  std::array<std::unique_ptr<DialogExtension>, kSlots> ext;

  static constexpr std::size_t kMaxEarly = 8;

  template <typename T>
  T* get(Slot s) const {
    return static_cast<T*>(ext[s].get());
  }
};

class DialogTable {
 public:
  struct Limits {
    Millis setupTimeout = 5 * 60'000;
    Millis maxDuration = 4 * 3600'000;
    std::size_t maxDialogs = 1 << 20;  // keys (calls), per worker
  };
  // Called once for every dialog that ends, just before it is forgotten (BYE, rejection, sweep).
  using OnEnd = std::function<void(Dialog&, DialogEnd, Millis now)>;

  explicit DialogTable(Limits limits, OnEnd onEnd = {}) : limits_(limits), onEnd_(std::move(onEnd)) {}
  void setOnEnd(OnEnd onEnd) { onEnd_ = std::move(onEnd); }

  // An initial INVITE (no To tag) forwarded on `leg`: its dialog, new (`created`) or the one this leg's
  // retransmission already opened. Null when the table is full.
  Dialog* open(std::string_view callId, std::string_view callerTag, std::string_view leg, Millis now, bool& created);

  // A response to the INVITE of (callId, callerTag): 1xx with a tag opens an early dialog, 2xx confirms, a
  // failure before any 2xx ends the dialog (Rejected). Affects every leg of the call.
  void onInviteResponse(std::string_view callId, std::string_view callerTag, std::string_view calleeTag, int status,
                        Millis now);

  // A request in the call: BYE ends it, CANCEL marks it cancelled. The caller's tag is the From tag, or the To tag
  // when the callee sends. Returns the call's first leg (null when the call is not in the table); after a BYE the
  // legs are gone and it returns null.
  Dialog* onRequest(std::string_view method, std::string_view callId, std::string_view fromTag, std::string_view toTag,
                    Millis now);

  // Ends the dialogs past their setup timeout or maximum duration.
  void sweep(Millis now);

  // The first leg of a call, by the caller's tag; null when unknown.
  Dialog* find(std::string_view callId, std::string_view callerTag);
  std::size_t size() const { return calls_.size(); }
  const Limits& limits() const { return limits_; }

 private:
  using Legs = std::vector<Dialog>;
  static std::string key(std::string_view callId, std::string_view tag);
  Legs* legs(std::string_view callId, std::string_view tag);
  void end(Dialog& d, DialogEnd why, Millis now);

  Limits limits_;
  OnEnd onEnd_;
  std::unordered_map<std::string, Legs> calls_;
  std::string scratchKey_;
};

}  // namespace sipedge::proxy
