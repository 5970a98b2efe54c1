// Management operations on the store, as JSON requests and answers. One implementation serves both paths:
// sipedge runs them on its capture writer thread (requests from `sipedge-ctl` over data_dir/ctl.sock), and
// `sipedge-ctl` runs them on a store it opened itself when sipedge is not running.
//
// Request: {"op": "...", ...}. Answer: {"ok": true, ...} or {"ok": false, "error": "..."}.
//   users                                     every (tenant, user) with data
//   iplog | devices | cdrs   tenant, user     one user's rows (cdrs: "all": true = operator view with hidden)
//   export                   tenant, user     everything about one user (P5)
//   erase                    tenant, user     all but legal-hold CDRs; audited
//   hide | unhide            id               a CDR hidden from (or shown again in) its user's own view
//   hold | release           id               legal hold on a CDR
//   provision-add            mac, tenant, user, model
//   provision-remove         mac
//   provisioned                               the provisioned devices
//   audit                                     the audit log
//   retention                                 oldest record age per kind (ms)
#pragma once

#include <nlohmann/json.hpp>

#include "store.h"

namespace sipedge::store {

// Never throws: bad requests get {"ok": false, "error": ...}. Mutations are audited with `actor`.
nlohmann::ordered_json runAdmin(Store& s, const nlohmann::ordered_json& request, const std::string& actor);

}  // namespace sipedge::store
