// TxnKey: what a UAC encodes into its Via branch (and Call-ID) so a response finds its transaction slot in
// O(1) without any lookup table: worker, slot index, slot generation and transaction phase.
#pragma once

#include <cstdint>
#include <string_view>

#include "buf_writer.hpp"

namespace sipbench {

// Phase letters used in branches; one per client transaction kind of a scenario.
enum class TxnPhase : char { Register = 'r', Options = 'o', Invite = 'i', Ack = 'a', Bye = 'b' };

struct TxnKey {
  uint32_t worker = 0;
  uint32_t slot = 0;
  uint32_t gen = 0;  // bumped each time a slot is reused, so late retransmissions of old transactions miss
  TxnPhase phase = TxnPhase::Options;
};

inline constexpr std::string_view kBranchPrefix = "z9hG4bKsb";

// Writes "z9hG4bKsb<worker>.<slot>.<gen>.<phase>" (hex fields); RFC 3261 magic cookie first.
inline void writeBranch(BufWriter& w, const TxnKey& k) {
  w.put(kBranchPrefix).putHex(k.worker).put('.').putHex(k.slot).put('.').putHex(k.gen).put('.').put(
      static_cast<char>(k.phase));
}

// Reverses writeBranch. Returns false for branches sipbench did not write.
inline bool parseBranch(std::string_view b, TxnKey& out) {
  if (!b.starts_with(kBranchPrefix)) return false;
  b.remove_prefix(kBranchPrefix.size());
  uint32_t fields[3] = {0, 0, 0};
  for (uint32_t& f : fields) {
    std::size_t i = 0;
    uint64_t v = 0;
    for (; i < b.size() && b[i] != '.'; ++i) {
      const char c = b[i];
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else {
        return false;
      }
      v = (v << 4) | static_cast<uint64_t>(d);
      if (v > UINT32_MAX) return false;
    }
    if (i == 0 || i >= b.size()) return false;
    f = static_cast<uint32_t>(v);
    b.remove_prefix(i + 1);
  }
  if (b.size() != 1) return false;
  switch (b[0]) {
    case 'r': case 'o': case 'i': case 'a': case 'b': break;
    default: return false;
  }
  out = TxnKey{fields[0], fields[1], fields[2], static_cast<TxnPhase>(b[0])};
  return true;
}

}  // namespace sipbench
