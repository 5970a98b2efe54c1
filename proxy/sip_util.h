// Small helpers over sofia types used by several stages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "endpoint.h"
#include "sofia.h"

namespace sipedge::proxy {

// FNV-1a: stable across runs and restarts, so branches of retransmissions match.
class Fnv64 {
 public:
  Fnv64& add(std::string_view s) {
    for (unsigned char c : s) h_ = (h_ ^ c) * 0x100000001b3ULL;
    h_ = (h_ ^ 0xff) * 0x100000001b3ULL;  // field separator
    return *this;
  }
  Fnv64& add(const char* s) { return add(s ? std::string_view(s) : std::string_view()); }
  Fnv64& add(std::uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
    return add(std::string_view(b, 8));
  }
  std::uint64_t value() const { return h_; }

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

void appendHex(std::string& out, std::uint64_t v, int digits);

// The value of URI parameter `name`, or nullopt (a flag parameter gives "").
std::optional<std::string> uriParam(const url_t* u, const char* name);

// Where a SIP URI with a numeric host leads (transport param, default port). nullopt for host names.
std::optional<Endpoint> uriEndpoint(const url_t* u);

// Where a response goes next, per the Via (received, rport, port; RFC 3261 §18.2.2, RFC 3581).
std::optional<Endpoint> viaEndpoint(const sip_via_t* v);

// "udp" / "tcp" of a Via's protocol (SIP/2.0/UDP); nullopt for others.
std::optional<Transport> viaTransport(const sip_via_t* v);

std::string_view transportUpper(Transport t);  // "UDP" / "TCP"

bool parseIp(std::string_view s, boost::asio::ip::address& out);
// A port number, strictly: 1-65535, digits only. nullopt for anything else (null, empty, "0", "5060x").
std::optional<std::uint16_t> parsePort(const char* p);

}  // namespace sipedge::proxy
