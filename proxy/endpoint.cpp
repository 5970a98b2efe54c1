#include "endpoint.h"

#include <charconv>

namespace sipedge::proxy {

void appendIp(std::string& out, const boost::asio::ip::address& a) {
  if (!a.is_v4()) {
    out += a.to_string();
    return;
  }
  // The hot path formats an IPv4 address per message: skip inet_ntop's printf machinery.
  char buf[16];
  char* p = buf;
  auto v = a.to_v4().to_uint();
  for (int i = 3; i >= 0; --i) {
    p = std::to_chars(p, buf + sizeof buf, (v >> (8 * i)) & 0xff).ptr;
    if (i) *p++ = '.';
  }
  out.append(buf, static_cast<std::size_t>(p - buf));
}

std::string ipText(const boost::asio::ip::address& a) {
  std::string s;
  appendIp(s, a);
  return s;
}

std::string hostText(const boost::asio::ip::address& a) {
  std::string s;
  if (a.is_v6()) s += '[';
  appendIp(s, a);
  if (a.is_v6()) s += ']';
  return s;
}

std::string Endpoint::hostport() const {
  std::string s = hostText(addr);
  s += ':';
  char buf[8];
  s.append(buf, static_cast<std::size_t>(std::to_chars(buf, buf + sizeof buf, port).ptr - buf));
  return s;
}

std::string Endpoint::text() const {
  return std::string(conf::transportName(transport)) + ":" + hostport();
}

std::size_t EndpointHash::operator()(const Endpoint& e) const noexcept {
  std::size_t h = std::hash<unsigned>()(static_cast<unsigned>(e.transport) << 16 | e.port);
  if (e.addr.is_v4()) return h ^ (std::hash<unsigned>()(e.addr.to_v4().to_uint()) * 31);
  auto b = e.addr.to_v6().to_bytes();
  for (auto c : b) h = h * 131 + c;
  return h;
}

}  // namespace sipedge::proxy
