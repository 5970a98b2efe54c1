#include "zones.h"

#include <algorithm>

namespace sipedge::proxy {

std::string_view zoneName(Zone z) {
  switch (z) {
    case Zone::Core:
      return "core";
    case Zone::Carrier:
      return "carrier";
    default:
      return "access";
  }
}

static boost::asio::ip::address normalize(const boost::asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  return a;
}

ZoneTable::ZoneTable(const conf::Config& c) {
  for (auto& t : c.pbx) core_.push_back(boost::asio::ip::make_address(t.address));
  for (auto& s : c.coreTrusted) core_.push_back(boost::asio::ip::make_address(s));
  for (auto& k : c.carriers) {
    carriers_.push_back(boost::asio::ip::make_address(k.target.address));
    carrierTargets_.push_back({k.target.transport, carriers_.back(), k.target.port});
  }
}

Zone ZoneTable::classify(const boost::asio::ip::address& raw) const {
  auto a = normalize(raw);
  if (std::find(core_.begin(), core_.end(), a) != core_.end()) return Zone::Core;
  if (std::find(carriers_.begin(), carriers_.end(), a) != carriers_.end()) return Zone::Carrier;
  return Zone::Access;
}

int ZoneTable::carrierIndex(const boost::asio::ip::address& raw) const {
  auto a = normalize(raw);
  auto it = std::find(carriers_.begin(), carriers_.end(), a);
  return it == carriers_.end() ? -1 : static_cast<int>(it - carriers_.begin());
}

}  // namespace sipedge::proxy
