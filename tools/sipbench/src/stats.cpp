// Stats merging and report rendering. Runs once per process, so it favours clarity over speed.
#include "stats.hpp"

#include <cstdio>
#include <string_view>

#include "mini_parser.hpp"

namespace sipbench {
namespace {

void appendf(std::string& out, const char* fmt, auto... args) {
  char buf[512];
  const int n = std::snprintf(buf, sizeof buf, fmt, args...);
  if (n > 0) out.append(buf, static_cast<std::size_t>(std::min<int>(n, sizeof buf - 1)));
}

double seconds(int64_t us) {
  return static_cast<double>(us) / 1e6;
}

const char* kindName(TxnKind k) {
  return txnKindName(k).data();
}

void textHistogram(std::string& out, const char* name, const Histogram& h) {
  if (h.count() == 0) return;
  appendf(out, "  %-8s n=%-9llu p50=%-8llu p90=%-8llu p99=%-8llu max=%-8llu mean=%.0f\n", name,
          static_cast<unsigned long long>(h.count()), static_cast<unsigned long long>(h.percentile(0.50)),
          static_cast<unsigned long long>(h.percentile(0.90)), static_cast<unsigned long long>(h.percentile(0.99)),
          static_cast<unsigned long long>(h.max()), h.mean());
}

void jsonHistogram(std::string& out, const char* name, const Histogram& h, bool last) {
  appendf(
      out,
      "    \"%s\": {\"count\": %llu, \"p50\": %llu, \"p90\": %llu, \"p99\": %llu, \"max\": %llu, \"mean\": %.1f}%s\n",
      name, static_cast<unsigned long long>(h.count()), static_cast<unsigned long long>(h.percentile(0.50)),
      static_cast<unsigned long long>(h.percentile(0.90)), static_cast<unsigned long long>(h.percentile(0.99)),
      static_cast<unsigned long long>(h.max()), h.mean(), last ? "" : ",");
}

struct Rates {
  double elapsed_s;
  double attempt_rate;
  double success_rate;
};

Rates rates(const UacRunInfo& info, const UacStats& s) {
  Rates r{};
  r.elapsed_s = seconds(info.end_us - info.start_us);
  const double issue_s = seconds(s.last_issue_us - info.start_us);
  const double done_s = seconds(s.last_done_us - info.start_us);
  // Rates over the window in which the work actually happened, so the drain tail does not dilute them.
  r.attempt_rate = issue_s > 0 ? static_cast<double>(s.attempted) / issue_s : 0;
  r.success_rate = done_s > 0 ? static_cast<double>(s.succeeded) / done_s : 0;
  return r;
}

}  // namespace

std::string_view txnKindName(TxnKind k) {
  switch (k) {
    case TxnKind::Register:
      return "register";
    case TxnKind::Options:
      return "options";
    case TxnKind::Invite:
      return "invite";
    case TxnKind::Bye:
      return "bye";
    case TxnKind::Count:
      break;
  }
  return "?";
}

void UacStats::merge(const UacStats& o) {
  attempted += o.attempted;
  succeeded += o.succeeded;
  failed += o.failed;
  for (std::size_t i = 0; i < timeouts.size(); ++i) timeouts[i] += o.timeouts[i];
  for (std::size_t i = 0; i < final_status.size(); ++i) final_status[i] += o.final_status[i];
  aborted += o.aborted;
  dialog_errors += o.dialog_errors;
  retransmissions += o.retransmissions;
  ack_resent += o.ack_resent;
  stray_responses += o.stray_responses;
  unexpected_requests += o.unexpected_requests;
  parse_errors += o.parse_errors;
  send_drops += o.send_drops;
  build_errors += o.build_errors;
  dest_fallbacks += o.dest_fallbacks;
  messages_sent += o.messages_sent;
  messages_received += o.messages_received;
  if (o.first_issue_us && (!first_issue_us || o.first_issue_us < first_issue_us)) first_issue_us = o.first_issue_us;
  last_issue_us = std::max(last_issue_us, o.last_issue_us);
  last_done_us = std::max(last_done_us, o.last_done_us);
  txn.merge(o.txn);
  invite.merge(o.invite);
  bye.merge(o.bye);
  call.merge(o.call);
}

std::string renderText(const UacRunInfo& info, const UacStats& s) {
  const Rates r = rates(info, s);
  std::string out;
  appendf(out, "sipbench uac: scenario=%s target=%s workers=%u max-inflight=%u", info.scenario.c_str(),
          info.target.c_str(), info.workers, info.max_inflight);
  if (info.target_rate > 0) {
    appendf(out, " rate=%.0f/s", info.target_rate);
  } else {
    out += " rate=unlimited";
  }
  if (info.count) appendf(out, " count=%llu", static_cast<unsigned long long>(info.count));
  if (info.duration_s > 0) appendf(out, " duration=%.1fs", info.duration_s);
  if (info.hold_ms) appendf(out, " hold=%ums", info.hold_ms);
  out += "\n";
  appendf(out, "elapsed        %.3f s%s\n", r.elapsed_s, info.hard_cap_hit ? "  (stopped by the hard cap)" : "");
  appendf(out, "rate           attempted %.1f/s  succeeded %.1f/s\n", r.attempt_rate, r.success_rate);
  appendf(out, "attempted      %llu\nsucceeded      %llu\nfailed         %llu\n",
          static_cast<unsigned long long>(s.attempted), static_cast<unsigned long long>(s.succeeded),
          static_cast<unsigned long long>(s.failed));
  for (std::size_t k = 0; k < s.timeouts.size(); ++k) {
    if (s.timeouts[k])
      appendf(out, "  timeout %-8s %llu\n", kindName(static_cast<TxnKind>(k)),
              static_cast<unsigned long long>(s.timeouts[k]));
  }
  for (std::size_t c = 0; c < s.final_status.size(); ++c) {
    if (s.final_status[c]) appendf(out, "  status %-9zu %llu\n", c, static_cast<unsigned long long>(s.final_status[c]));
  }
  if (s.aborted) appendf(out, "  aborted          %llu\n", static_cast<unsigned long long>(s.aborted));
  if (s.dialog_errors) appendf(out, "  dialog errors    %llu\n", static_cast<unsigned long long>(s.dialog_errors));
  appendf(out, "retransmissions %llu\n", static_cast<unsigned long long>(s.retransmissions));
  appendf(out, "messages       sent %llu  received %llu\n", static_cast<unsigned long long>(s.messages_sent),
          static_cast<unsigned long long>(s.messages_received));
  appendf(out,
          "other          stray=%llu parse_errors=%llu unexpected_requests=%llu send_drops=%llu ack_resent=%llu "
          "dest_fallbacks=%llu\n",
          static_cast<unsigned long long>(s.stray_responses), static_cast<unsigned long long>(s.parse_errors),
          static_cast<unsigned long long>(s.unexpected_requests), static_cast<unsigned long long>(s.send_drops),
          static_cast<unsigned long long>(s.ack_resent), static_cast<unsigned long long>(s.dest_fallbacks));
  appendf(out, "cpu            user %.2f s  sys %.2f s\n", info.cpu_user_s, info.cpu_sys_s);
  out += "latency (us, request -> final response)\n";
  textHistogram(out, "txn", s.txn);
  textHistogram(out, "invite", s.invite);
  textHistogram(out, "bye", s.bye);
  textHistogram(out, "call", s.call);
  return out;
}

std::string renderJson(const UacRunInfo& info, const UacStats& s) {
  const Rates r = rates(info, s);
  std::string out = "{\n";
  appendf(out, "  \"role\": \"uac\",\n  \"scenario\": \"%s\",\n  \"target\": \"%s\",\n", info.scenario.c_str(),
          info.target.c_str());
  appendf(out,
          "  \"workers\": %u,\n  \"max_inflight\": %u,\n  \"target_rate\": %.3f,\n  \"count\": %llu,\n  "
          "\"duration_s\": %.3f,\n",
          info.workers, info.max_inflight, info.target_rate, static_cast<unsigned long long>(info.count),
          info.duration_s);
  appendf(out, "  \"hold_ms\": %u,\n  \"hard_cap_hit\": %s,\n", info.hold_ms, info.hard_cap_hit ? "true" : "false");
  appendf(out, "  \"elapsed_s\": %.6f,\n  \"attempt_rate\": %.3f,\n  \"success_rate\": %.3f,\n", r.elapsed_s,
          r.attempt_rate, r.success_rate);
  appendf(out, "  \"attempted\": %llu,\n  \"succeeded\": %llu,\n  \"failed\": %llu,\n",
          static_cast<unsigned long long>(s.attempted), static_cast<unsigned long long>(s.succeeded),
          static_cast<unsigned long long>(s.failed));
  out += "  \"timeouts\": {";
  for (std::size_t k = 0; k < s.timeouts.size(); ++k)
    appendf(out, "%s\"%s\": %llu", k ? ", " : "", kindName(static_cast<TxnKind>(k)),
            static_cast<unsigned long long>(s.timeouts[k]));
  out += "},\n  \"status\": {";
  bool first = true;
  for (std::size_t c = 0; c < s.final_status.size(); ++c) {
    if (!s.final_status[c]) continue;
    appendf(out, "%s\"%zu\": %llu", first ? "" : ", ", c, static_cast<unsigned long long>(s.final_status[c]));
    first = false;
  }
  out += "},\n";
  appendf(out,
          "  \"aborted\": %llu,\n  \"dialog_errors\": %llu,\n  \"retransmissions\": %llu,\n  \"ack_resent\": %llu,\n",
          static_cast<unsigned long long>(s.aborted), static_cast<unsigned long long>(s.dialog_errors),
          static_cast<unsigned long long>(s.retransmissions), static_cast<unsigned long long>(s.ack_resent));
  appendf(out, "  \"stray_responses\": %llu,\n  \"unexpected_requests\": %llu,\n  \"parse_errors\": %llu,\n",
          static_cast<unsigned long long>(s.stray_responses), static_cast<unsigned long long>(s.unexpected_requests),
          static_cast<unsigned long long>(s.parse_errors));
  appendf(out, "  \"send_drops\": %llu,\n  \"build_errors\": %llu,\n  \"dest_fallbacks\": %llu,\n",
          static_cast<unsigned long long>(s.send_drops), static_cast<unsigned long long>(s.build_errors),
          static_cast<unsigned long long>(s.dest_fallbacks));
  appendf(out, "  \"messages_sent\": %llu,\n  \"messages_received\": %llu,\n",
          static_cast<unsigned long long>(s.messages_sent), static_cast<unsigned long long>(s.messages_received));
  appendf(out, "  \"cpu_user_s\": %.3f,\n  \"cpu_sys_s\": %.3f,\n", info.cpu_user_s, info.cpu_sys_s);
  out += "  \"latency_us\": {\n";
  jsonHistogram(out, "txn", s.txn, false);
  jsonHistogram(out, "invite", s.invite, false);
  jsonHistogram(out, "bye", s.bye, false);
  jsonHistogram(out, "call", s.call, true);
  out += "  }\n}\n";
  return out;
}

void UasStats::merge(const UasStats& o) {
  received += o.received;
  for (std::size_t i = 0; i < by_method.size(); ++i) by_method[i] += o.by_method[i];
  responses_received += o.responses_received;
  responses_sent += o.responses_sent;
  parse_errors += o.parse_errors;
  send_drops += o.send_drops;
  build_errors += o.build_errors;
  via_fallbacks += o.via_fallbacks;
}

std::string renderUasText(const UasStats& s, double elapsed_s) {
  std::string out;
  appendf(out, "sipbench uas: elapsed %.3f s, received %llu requests+responses, sent %llu responses\n", elapsed_s,
          static_cast<unsigned long long>(s.received), static_cast<unsigned long long>(s.responses_sent));
  for (std::size_t m = 0; m < s.by_method.size(); ++m) {
    if (s.by_method[m])
      appendf(out, "  %-9s %llu\n", methodName(static_cast<Method>(m)).data(),
              static_cast<unsigned long long>(s.by_method[m]));
  }
  appendf(out,
          "  other: responses_received=%llu parse_errors=%llu send_drops=%llu build_errors=%llu via_fallbacks=%llu\n",
          static_cast<unsigned long long>(s.responses_received), static_cast<unsigned long long>(s.parse_errors),
          static_cast<unsigned long long>(s.send_drops), static_cast<unsigned long long>(s.build_errors),
          static_cast<unsigned long long>(s.via_fallbacks));
  return out;
}

std::string renderUasJson(const UasStats& s, double elapsed_s) {
  std::string out = "{\n  \"role\": \"uas\",\n";
  appendf(out, "  \"elapsed_s\": %.6f,\n  \"received\": %llu,\n  \"responses_sent\": %llu,\n  \"requests\": {",
          elapsed_s, static_cast<unsigned long long>(s.received), static_cast<unsigned long long>(s.responses_sent));
  for (std::size_t m = 0; m < s.by_method.size(); ++m)
    appendf(out, "%s\"%s\": %llu", m ? ", " : "", methodName(static_cast<Method>(m)).data(),
            static_cast<unsigned long long>(s.by_method[m]));
  appendf(out, "},\n  \"responses_received\": %llu,\n  \"parse_errors\": %llu,\n  \"send_drops\": %llu,\n",
          static_cast<unsigned long long>(s.responses_received), static_cast<unsigned long long>(s.parse_errors),
          static_cast<unsigned long long>(s.send_drops));
  appendf(out, "  \"build_errors\": %llu,\n  \"via_fallbacks\": %llu\n}\n",
          static_cast<unsigned long long>(s.build_errors), static_cast<unsigned long long>(s.via_fallbacks));
  return out;
}

}  // namespace sipbench
