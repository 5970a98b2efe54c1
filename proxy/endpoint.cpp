#include "endpoint.h"

namespace sipedge::proxy {

std::string hostText(const boost::asio::ip::address& a) {
  return a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
}

std::string Endpoint::hostport() const { return hostText(addr) + ":" + std::to_string(port); }

std::string Endpoint::text() const { return std::string(conf::transportName(transport)) + ":" + hostport(); }

bool parseEndpoint(std::string_view s, Endpoint& out) {
  auto t = conf::parseTarget(s);
  if (!t) return false;
  boost::system::error_code ec;
  out.addr = boost::asio::ip::make_address(t->address, ec);
  if (ec) return false;
  out.transport = t->transport;
  out.port = t->port;
  return true;
}

std::size_t EndpointHash::operator()(const Endpoint& e) const noexcept {
  std::size_t h = std::hash<unsigned>()(static_cast<unsigned>(e.transport) << 16 | e.port);
  if (e.addr.is_v4()) return h ^ (std::hash<unsigned>()(e.addr.to_v4().to_uint()) * 31);
  auto b = e.addr.to_v6().to_bytes();
  for (auto c : b) h = h * 131 + c;
  return h;
}

}  // namespace sipedge::proxy
