#include "sip_util.h"

#include <charconv>
#include <cstring>

namespace sipedge::proxy {

void appendHex(std::string& out, std::uint64_t v, int digits) {
  static const char hex[] = "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i) out += hex[(v >> (4 * i)) & 0xf];
}

std::optional<std::string> uriParam(const url_t* u, const char* name) {
  if (!u || !u->url_params) return std::nullopt;
  char buf[256];
  isize_t n = url_param(u->url_params, name, buf, sizeof buf);
  if (n <= 0) return std::nullopt;
  return std::string(buf);
}

bool parseIp(std::string_view s, boost::asio::ip::address& out) {
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  char buf[64];
  if (s.empty() || s.size() >= sizeof buf) return false;
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = 0;
  boost::system::error_code ec;
  // make_address tries IPv6 first: most hosts here are IPv4, so ask the right parser straight away.
  if (s.find(':') == std::string_view::npos) {
    out = boost::asio::ip::make_address_v4(buf, ec);
  } else {
    out = boost::asio::ip::make_address_v6(buf, ec);
  }
  return !ec;
}

std::optional<std::uint16_t> parsePort(const char* p) {
  if (!p || !*p) return std::nullopt;
  unsigned v = 0;
  auto end = p + std::strlen(p);
  auto [q, ec] = std::from_chars(p, end, v);
  if (ec != std::errc() || q != end || v == 0 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

std::optional<Endpoint> uriEndpoint(const url_t* u) {
  if (!u || !u->url_host || (u->url_type != url_sip && u->url_type != url_sips)) return std::nullopt;
  Endpoint e;
  if (!parseIp(u->url_host, e.addr)) return std::nullopt;
  e.transport = Transport::Udp;
  if (auto t = uriParam(u, "transport")) {
    auto tr = conf::parseTransport(*t);
    if (!tr) return std::nullopt;  // tls, sctp, ws: not served yet
    e.transport = *tr;
  }
  if (u->url_type == url_sips) e.transport = Transport::Tcp;
  e.port = u->url_port && *u->url_port ? parsePort(u->url_port).value_or(0) : 5060;
  if (e.port == 0) return std::nullopt;
  return e;
}

std::optional<Transport> viaTransport(const sip_via_t* v) {
  if (!v || !v->v_protocol) return std::nullopt;
  std::string_view p = v->v_protocol;
  auto slash = p.rfind('/');
  if (slash == std::string_view::npos) return std::nullopt;
  p = p.substr(slash + 1);
  if (p.size() == 3) {
    char t[4] = {static_cast<char>(std::tolower(p[0])), static_cast<char>(std::tolower(p[1])),
                 static_cast<char>(std::tolower(p[2])), 0};
    return conf::parseTransport(t);
  }
  return std::nullopt;
}

std::optional<Endpoint> viaEndpoint(const sip_via_t* v) {
  auto t = viaTransport(v);
  if (!t) return std::nullopt;
  Endpoint e;
  e.transport = *t;
  const char* host = v->v_received && *v->v_received ? v->v_received : v->v_host;
  if (!host || !parseIp(host, e.addr)) return std::nullopt;
  std::optional<std::uint16_t> port = parsePort(v->v_rport);
  if (!port) port = parsePort(v->v_port);
  e.port = port.value_or(5060);
  return e;
}

std::string_view transportUpper(Transport t) {
  return t == Transport::Tcp ? "TCP" : "UDP";
}

}  // namespace sipedge::proxy
