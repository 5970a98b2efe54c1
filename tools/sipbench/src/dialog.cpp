// Dialog implementation.
#include "dialog.hpp"

#include <array>
#include <cstring>

#include "udp_io.hpp"

namespace sipbench {
namespace {

// Resolves a SIP URI to a UDP destination; false when the host is not a numeric IPv4 address.
bool uriDest(std::string_view uri, sockaddr_in& out) {
  SipUri u;
  if (!parseSipUri(uri, u)) return false;
  return makeAddr(u.host, u.port ? u.port : 5060, out);
}

}  // namespace

bool Dialog::append(std::string_view s, Span& into) {
  if (s.size() > kCap - used_) return false;
  if (into.len == 0) into.off = static_cast<uint16_t>(used_);
  std::memcpy(buf_ + used_, s.data(), s.size());
  used_ += s.size();
  into.len = static_cast<uint16_t>(into.len + s.size());
  return true;
}

Dialog::Result Dialog::establish(const SipMessage& ok, std::string_view invite_ruri, const sockaddr_in& fallback_dest) {
  used_ = 0;
  ruri_ = to_ = routes_ = Span{};
  fallback_ = false;

  // Collect the Record-Route entries in message order, then walk them backwards (UAC route set).
  std::array<std::string_view, 16> rr{};
  std::size_t nrr = 0;
  bool too_many = false;
  for (std::string_view hv : ok.record_routes) {
    forEachListElement(hv, [&](std::string_view e) {
      if (nrr == rr.size()) {
        too_many = true;
        return false;
      }
      rr[nrr++] = e;
      return true;
    });
  }
  if (too_many || ok.record_routes.overflow()) return Result::TooLarge;

  std::string_view target =
      ok.contacts.empty() ? std::string_view{} : parseNameAddr(firstListElement(ok.contacts[0])).uri;
  if (target.empty()) target = invite_ruri;  // a 2xx without Contact is broken; keep the call going anyway
  if (!append(ok.to, to_)) return Result::TooLarge;

  bool have_dest = false;
  std::size_t first_route = 0;  // index into the reversed list of the first entry written as Route
  if (nrr > 0) {
    const NameAddr top = parseNameAddr(rr[nrr - 1]);
    SipUri u;
    if (!parseSipUri(top.uri, u)) return Result::BadRoute;
    have_dest = makeAddr(u.host, u.port ? u.port : 5060, dest_);
    if (u.lr) {
      if (!append(target, ruri_)) return Result::TooLarge;
    } else {
      // Strict router: it becomes the Request-URI, the remote target goes last in Route.
      if (!append(top.uri, ruri_)) return Result::TooLarge;
      first_route = 1;
    }
  } else {
    if (!append(target, ruri_)) return Result::TooLarge;
    have_dest = uriDest(target, dest_);
  }
  for (std::size_t i = first_route; i < nrr; ++i) {
    const std::string_view e = rr[nrr - 1 - i];
    if (!append("Route: ", routes_) || !append(e, routes_) || !append("\r\n", routes_)) return Result::TooLarge;
  }
  if (nrr > 0 && first_route == 1) {
    if (!append("Route: <", routes_) || !append(target, routes_) || !append(">\r\n", routes_)) return Result::TooLarge;
  }
  if (!have_dest) {
    dest_ = fallback_dest;
    fallback_ = true;
  }
  return Result::Ok;
}

}  // namespace sipbench
