#include "stats.h"

namespace sipedge::proxy {

nlohmann::ordered_json statsJson(const std::vector<const Counters*>& perWorker) {
  nlohmann::ordered_json counters = nlohmann::ordered_json::object();
#define SIPEDGE_COUNTER_SUM(name, help)                     \
  {                                                         \
    std::uint64_t n = 0;                                    \
    for (const Counters* c : perWorker) n += c->name.get(); \
    counters[#name] = n;                                    \
  }
  SIPEDGE_COUNTERS(SIPEDGE_COUNTER_SUM)
#undef SIPEDGE_COUNTER_SUM

  nlohmann::ordered_json le = nlohmann::ordered_json::array(), count = nlohmann::ordered_json::array();
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i <= kDelayBoundsUs.size(); ++i) {
    le.push_back(i < kDelayBoundsUs.size() ? nlohmann::ordered_json(kDelayBoundsUs[i]) : nlohmann::ordered_json());
    std::uint64_t n = 0;
    for (const Counters* c : perWorker) n += c->udpDelay.bucket(i);
    count.push_back(n);
  }
  for (const Counters* c : perWorker) sum += c->udpDelay.sumUs();
  nlohmann::ordered_json verdicts = nlohmann::ordered_json::object();
  for (std::size_t r = 1; r < kReasonCount; ++r) {  // 0 is "none", which no verdict carries
    std::uint64_t n = 0;
    for (const Counters* c : perWorker) n += c->verdicts[r].get();
    verdicts[std::string(kReasonNames[r])] = n;
  }
  std::uint64_t dialogs = 0;
  for (const Counters* c : perWorker) dialogs += c->dialogsOpen.get();
  return {{"counters", counters},
          {"verdicts", verdicts},
          {"gauges", {{"dialogs_open", dialogs}}},
          {"udp_forward_delay_us", {{"le", le}, {"count", count}, {"sum", sum}}}};
}

}  // namespace sipedge::proxy
