// JSON views of the records (see json.h).
#include "store/json.h"

namespace sipedge::store {

using Json = nlohmann::ordered_json;

Json toJson(const IpLogEntry& e) {
  return {{"ip", e.ip},
          {"port", e.port},
          {"transport", e.transport},
          {"first_seen", e.firstSeen},
          {"last_seen", e.lastSeen},
          {"count", e.count},
          {"event", e.event},
          {"hostname", e.hostname},
          {"region", e.region},
          {"isp", e.isp}};
}

Json toJson(const DeviceRecord& d) {
  return {{"instance", d.instance},
          {"user_agent", d.userAgent},
          {"brand", d.brand},
          {"model", d.model},
          {"firmware", d.firmware},
          {"mac", d.mac},
          {"ip", d.ip},
          {"port", d.port},
          {"transport", d.transport},
          {"first_seen", d.firstSeen},
          {"last_seen", d.lastSeen},
          {"expires_at", d.expiresAt}};
}

Json toJson(const ProvisionedDevice& p) {
  return {{"mac", p.mac}, {"tenant", p.tenant}, {"user", p.user}, {"model", p.model}, {"added_at", p.addedAt}};
}

Json toJson(const CdrRecord& c) {
  return {{"unique_id", c.uniqueId},
          {"caller_id", c.callerId},
          {"source", c.source},
          {"destination", c.destination},
          {"context", c.context},
          {"src_channel", c.srcChannel},
          {"dst_channel", c.dstChannel},
          {"last_app", c.lastApp},
          {"last_data", c.lastData},
          {"start", c.start},
          {"answer", c.answer},
          {"end", c.end},
          {"billsec", c.billsec},
          {"disposition", dispositionName(c.disposition)},
          {"hidden_by_user", c.hiddenByUser},
          {"legal_hold", c.legalHold}};
}

Json toJson(const AuditRecord& a) {
  return {{"time", a.time}, {"actor", a.actor}, {"operation", a.operation}, {"target", a.target}, {"result", a.result}};
}

}  // namespace sipedge::store
