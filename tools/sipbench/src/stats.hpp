// Stats: per-worker counters and latency histograms, merged once at the end of a run, and the report
// (text and JSON) rendered from the merged result. Workers never share counters while running.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "histogram.hpp"

namespace sipbench {

// Client transaction kinds, for per-kind timeout counts.
enum class TxnKind : uint8_t { Register, Options, Invite, Bye, Count };
std::string_view txnKindName(TxnKind k);

struct UacStats {
  uint64_t attempted = 0;  // transactions (register/options) or calls started
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  std::array<uint64_t, static_cast<std::size_t>(TxnKind::Count)> timeouts{};
  std::array<uint64_t, 700> final_status{};  // unexpected final status codes (failures), by code
  uint64_t aborted = 0;                      // still running when the drain deadline or a second signal hit
  uint64_t dialog_errors = 0;                // 2xx whose route set or Contact could not be used
  uint64_t retransmissions = 0;
  uint64_t ack_resent = 0;         // ACKs re-sent for retransmitted 2xx
  uint64_t stray_responses = 0;    // no live transaction (late retransmissions, foreign branches)
  uint64_t unexpected_requests = 0;
  uint64_t parse_errors = 0;
  uint64_t send_drops = 0;
  uint64_t build_errors = 0;
  uint64_t dest_fallbacks = 0;  // in-dialog requests sent to --target because a route host was not numeric
  uint64_t messages_sent = 0;
  uint64_t messages_received = 0;
  int64_t first_issue_us = 0;
  int64_t last_issue_us = 0;
  int64_t last_done_us = 0;

  Histogram txn;     // REGISTER / OPTIONS: request -> final response
  Histogram invite;  // INVITE -> 200
  Histogram bye;     // BYE -> 200
  Histogram call;    // INVITE sent -> BYE 200 (includes --hold-ms)

  void merge(const UacStats& o);
};

struct UacRunInfo {
  std::string scenario;
  std::string target;
  double target_rate = 0;  // 0 = unlimited
  uint64_t count = 0;      // 0 = by duration
  double duration_s = 0;
  uint32_t workers = 1;
  uint32_t max_inflight = 0;
  uint32_t hold_ms = 0;
  int64_t start_us = 0;
  int64_t end_us = 0;
  double cpu_user_s = 0;
  double cpu_sys_s = 0;
  bool hard_cap_hit = false;
};

std::string renderText(const UacRunInfo& info, const UacStats& s);
std::string renderJson(const UacRunInfo& info, const UacStats& s);

struct UasStats {
  uint64_t received = 0;
  std::array<uint64_t, 7> by_method{};  // indexed by Method
  uint64_t responses_received = 0;      // a UAS gets none in these scenarios; counted, not answered
  uint64_t responses_sent = 0;
  uint64_t parse_errors = 0;
  uint64_t send_drops = 0;
  uint64_t build_errors = 0;
  uint64_t via_fallbacks = 0;  // replies sent to the packet source because the Via host was not numeric

  void merge(const UasStats& o);
};

std::string renderUasText(const UasStats& s, double elapsed_s);
std::string renderUasJson(const UasStats& s, double elapsed_s);

}  // namespace sipbench
