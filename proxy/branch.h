// The Via branches sipedge writes, in one place: their format, how to read one back, and whether a Via is ours.
//
//   forwarded request: "z9hG4bKse" WW SS TTTTTTTTTTTTTTTT LLLLLLLL   (hex; 37 characters)
//     WW worker that forwarded it (the response goes back to it), SS the socket it arrived on (SocketId::code,
//     the response leaves by it), T the transaction (RFC 3261 §16.11: deterministic, so retransmissions and
//     CANCEL get the same branch), L the loop hash (RFC 3261 §16.6 step 8, checked by LoopDetector).
//   health ping:       "z9hG4bKsehc" II RRRRRRRR                      (21 characters)
//     II the PBX target's index, R the ping round.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sofia.h"

namespace sipedge::proxy {

class LocalSockets;

struct Branch {
  static constexpr std::string_view kPrefix = "z9hG4bKse";
  static constexpr std::size_t kLength = kPrefix.size() + 2 + 2 + 16 + 8;

  std::uint8_t worker = 0;
  std::uint8_t socket = 0;  // SocketId::code() of the inbound socket
  std::uint64_t transaction = 0;
  std::uint32_t loop = 0;

  void appendTo(std::string& out) const;
  // nullopt unless `b` has exactly the form above.
  static std::optional<Branch> parse(const char* b);
};

struct PingBranch {
  static constexpr std::string_view kPrefix = "z9hG4bKsehc";
  static constexpr std::size_t kLength = kPrefix.size() + 2 + 8;

  std::uint8_t target = 0;
  std::uint32_t round = 0;

  void appendTo(std::string& out) const;
  // True when `b` starts like a ping branch (it is then never a forwarded request's); `out` is set when the rest
  // is well formed too.
  static bool looksLike(const char* b) { return b && std::string_view(b).starts_with(kPrefix); }
  static std::optional<PingBranch> parse(const char* b);
};

// The transaction part of the branch for a request whose top Via is `v` (the previous hop's).
std::uint64_t transactionHash(const sip_t* sip);

// The branch of `v` when `v` is a Via sipedge wrote: the branch has our form and the sent-by is one of our sockets.
std::optional<Branch> ourVia(const sip_via_t* v, const LocalSockets& local);

}  // namespace sipedge::proxy
