#include "dialog_table.h"

#include <algorithm>

namespace sipedge::proxy {

std::string DialogTable::key(std::string_view callId, std::string_view tag) {
  std::string k;
  k.reserve(callId.size() + 1 + tag.size());
  k.append(callId).append(1, '\x1f').append(tag);
  return k;
}

DialogTable::Legs* DialogTable::legs(std::string_view callId, std::string_view tag) {
  if (tag.empty()) return nullptr;
  scratchKey_.assign(callId).append(1, '\x1f').append(tag);  // the lookup reuses one buffer
  auto it = calls_.find(scratchKey_);
  return it == calls_.end() ? nullptr : &it->second;
}

void DialogTable::end(Dialog& d, DialogEnd why, Millis now) {
  if (onEnd_) onEnd_(d, why, now);
}

Dialog* DialogTable::open(std::string_view callId, std::string_view callerTag, std::string_view leg, Millis now,
                          bool& created) {
  created = false;
  Legs* l = legs(callId, callerTag);
  if (l) {
    for (auto& d : *l)
      if (d.leg == leg) return &d;  // a retransmission of this leg
  } else {
    if (calls_.size() >= limits_.maxDialogs) return nullptr;
    l = &calls_[key(callId, callerTag)];
  }
  Dialog& d = l->emplace_back();
  d.leg.assign(leg);
  d.start = now;
  created = true;
  return &d;
}

void DialogTable::onInviteResponse(std::string_view callId, std::string_view callerTag, std::string_view calleeTag,
                                   int status, Millis now) {
  Legs* l = legs(callId, callerTag);
  if (!l || status < 101) return;  // 100 Trying is hop-by-hop: no dialog
  for (auto& d : *l) {
    if (status < 200) {
      if (calleeTag.empty() || d.state == DialogState::Confirmed) continue;
      d.state = DialogState::Early;
      if (std::find(d.earlyTags.begin(), d.earlyTags.end(), calleeTag) == d.earlyTags.end() &&
          d.earlyTags.size() < Dialog::kMaxEarly)
        d.earlyTags.emplace_back(calleeTag);
    } else if (status < 300) {
      if (d.state == DialogState::Confirmed) continue;  // a retransmitted or forked 2xx: the first one counts
      d.state = DialogState::Confirmed;
      d.answered = now;
      d.finalStatus = status;
      d.calleeTag.assign(calleeTag);
    } else if (d.state != DialogState::Confirmed) {
      d.finalStatus = status;
      end(d, DialogEnd::Rejected, now);
      d.ended = true;
    }
  }
  std::erase_if(*l, [](const Dialog& d) { return d.ended; });
  if (l->empty()) calls_.erase(scratchKey_);
}

Dialog* DialogTable::onRequest(std::string_view method, std::string_view callId, std::string_view fromTag,
                               std::string_view toTag, Millis now) {
  // BYE may come from either side, so the caller's tag is in From or in To.
  for (std::string_view tag : {fromTag, toTag}) {
    Legs* l = legs(callId, tag);
    if (!l) continue;
    if (method == "CANCEL") {
      for (auto& d : *l) {
        d.cancelled = true;
        d.lastRequest = "CANCEL";
      }
    } else if (method == "BYE") {
      for (auto& d : *l) {
        d.lastRequest = "BYE";
        end(d, DialogEnd::Bye, now);
      }
      calls_.erase(scratchKey_);
      return nullptr;
    }
    return &l->front();
  }
  return nullptr;
}

void DialogTable::sweep(Millis now) {
  for (auto it = calls_.begin(); it != calls_.end();) {
    auto& l = it->second;
    for (auto& d : l) {
      bool answered = d.state == DialogState::Confirmed;
      if (answered && now - d.answered >= limits_.maxDuration) {
        end(d, DialogEnd::MaxDuration, now);
        d.ended = true;
      } else if (!answered && now - d.start >= limits_.setupTimeout) {
        end(d, DialogEnd::SetupTimeout, now);
        d.ended = true;
      }
    }
    std::erase_if(l, [](const Dialog& d) { return d.ended; });
    it = l.empty() ? calls_.erase(it) : std::next(it);
  }
}

Dialog* DialogTable::find(std::string_view callId, std::string_view callerTag) {
  Legs* l = legs(callId, callerTag);
  return l && !l->empty() ? &l->front() : nullptr;
}

}  // namespace sipedge::proxy
