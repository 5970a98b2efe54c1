// What the workers count, summed over them, as JSON: the answer to the `stats` management request (and what a
// stats endpoint exports). Every value is cumulative from start-up; a reader takes differences for a rate.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "counters.h"

namespace sipedge::proxy {

// {"counters": {name: n, ...}, "verdicts": {reason: n, ...}, "gauges": {"dialogs_open": n},
//  "udp_forward_delay_us": {"le": [bounds..., null], "count":
// [per bucket], "sum": µs}} "le" is each bucket's upper bound in µs (null: above the last bound); "count" is not
// cumulative.
nlohmann::ordered_json statsJson(const std::vector<const Counters*>& perWorker);

}  // namespace sipedge::proxy
