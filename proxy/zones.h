// Zones: which side of sipedge a peer is on. Trust is by address, never by port (a PBX sends from many ports).
#pragma once

#include <vector>

#include "conf/config.h"
#include "endpoint.h"

namespace sipedge::proxy {

enum class Zone : std::uint8_t { Access, Core, Carrier };
std::string_view zoneName(Zone z);

class ZoneTable {
 public:
  // The config's addresses were validated by the loader; an invalid one throws here (start-up only).
  explicit ZoneTable(const conf::Config& c);
  Zone classify(const boost::asio::ip::address& a) const;
  // The carrier whose target address is `a`, or -1.
  int carrierIndex(const boost::asio::ip::address& a) const;
  // Where each [[carrier]] is reached, in config order (parsed once, at start).
  const std::vector<Endpoint>& carrierTargets() const { return carrierTargets_; }

 private:
  std::vector<boost::asio::ip::address> core_;
  std::vector<boost::asio::ip::address> carriers_;
  std::vector<Endpoint> carrierTargets_;
};

}  // namespace sipedge::proxy
