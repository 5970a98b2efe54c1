// Dialog: the UAC side of one established dialog — remote target, route set and the peer's To — kept in a
// fixed inline buffer so holding thousands of calls costs no heap allocation per call.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string_view>

#include "mini_parser.hpp"

namespace sipbench {

class Dialog {
 public:
  enum class Result : uint8_t { Ok, TooLarge, BadRoute };

  // Sets the dialog from a 2xx response to INVITE (RFC 3261 §12.1.2): the route set is the Record-Route
  // list in reverse order; the remote target is the Contact URI. In-dialog requests go to the first route
  // when it is a loose router (;lr), to the first route as Request-URI for a strict router (§12.2.1.1),
  // or straight to the Contact without routes. A host that is not a numeric IPv4 address falls back to
  // `fallback_dest` (sipbench does no DNS) and is counted by the caller via usedFallback().
  Result establish(const SipMessage& ok, std::string_view invite_ruri, const sockaddr_in& fallback_dest);

  std::string_view requestUri() const { return view(ruri_); }
  std::string_view to() const { return view(to_); }
  // Ready-to-send "Route: ...\r\n" lines, possibly empty.
  std::string_view routeLines() const { return view(routes_); }
  const sockaddr_in& dest() const { return dest_; }
  bool usedFallback() const { return fallback_; }

 private:
  struct Span {
    uint16_t off = 0;
    uint16_t len = 0;
  };
  std::string_view view(Span s) const { return {buf_ + s.off, s.len}; }
  bool append(std::string_view s, Span& into);

  static constexpr std::size_t kCap = 1536;
  char buf_[kCap];
  std::size_t used_ = 0;
  Span ruri_;
  Span to_;
  Span routes_;
  sockaddr_in dest_{};
  bool fallback_ = false;
};

}  // namespace sipbench
