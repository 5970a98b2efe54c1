// JSON views of the store's records: one spelling of every field, shared by exportUser (P5) and the management
// operations (admin.h) so an export and a listing name things alike. Times are ms since the Unix epoch.
#pragma once

#include <nlohmann/json.hpp>

#include "records.h"

namespace sipedge::store {

nlohmann::ordered_json toJson(const IpLogEntry& e);
nlohmann::ordered_json toJson(const DeviceRecord& d);       // without tenant/user (the export's context)
nlohmann::ordered_json toJson(const ProvisionedDevice& p);  // with tenant/user (it points at one)
nlohmann::ordered_json toJson(const CdrRecord& c);          // hidden_by_user and legal_hold included
nlohmann::ordered_json toJson(const AuditRecord& a);

}  // namespace sipedge::store
