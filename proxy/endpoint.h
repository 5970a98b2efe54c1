// A transport address: where a message came from or goes to.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <functional>
#include <string>

#include "conf/config.h"

namespace sipedge::proxy {

using conf::Transport;

struct Endpoint {
  Transport transport = Transport::Udp;
  boost::asio::ip::address addr;
  std::uint16_t port = 0;

  bool operator==(const Endpoint&) const = default;
  // "1.2.3.4:5060" / "[::1]:5060"
  std::string hostport() const;
  // "udp:1.2.3.4:5060" — also the form of our `dst` URI parameter.
  std::string text() const;
};

std::string hostText(const boost::asio::ip::address& a);  // brackets around IPv6
std::string ipText(const boost::asio::ip::address& a);    // no brackets
void appendIp(std::string& out, const boost::asio::ip::address& a);

struct EndpointHash {
  std::size_t operator()(const Endpoint& e) const noexcept;
};

}  // namespace sipedge::proxy
