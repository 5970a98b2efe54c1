// Command-line parsing for sipbench: "--name value" or "--name=value", validated with messages that name
// the offending option.
#include "options.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>

namespace sipbench {
namespace {

template <typename T>
T parseNumber(std::string_view name, std::string_view v, T lo, T hi) {
  T out{};
  const auto* end = v.data() + v.size();
  const auto [p, ec] = std::from_chars(v.data(), end, out);
  if (ec != std::errc{} || p != end || v.empty())
    throw UsageError("--" + std::string(name) + ": not a number: '" + std::string(v) + "'");
  if (out < lo || out > hi)
    throw UsageError("--" + std::string(name) + ": " + std::string(v) + " is out of range [" + std::to_string(lo) +
                     ", " + std::to_string(hi) + "]");
  return out;
}

}  // namespace

std::string_view scenarioName(Scenario s) {
  switch (s) {
    case Scenario::Register:
      return "register";
    case Scenario::Call:
      return "call";
    case Scenario::Options:
      return "options";
  }
  return "?";
}

std::string usageText() {
  return R"(usage: sipbench uac --target HOST:PORT --scenario register|call|options (--count N | --duration S) [options]
       sipbench uas --listen HOST:PORT [--duration S] [options]

uac options:
  --target HOST:PORT       where requests go (numeric IPv4)
  --local HOST             bind address, one ephemeral port per worker (default 127.0.0.1)
  --local-port P           worker i binds port P+i instead (the same phones again across runs); 0 = ephemeral
  --scenario NAME          register | call | options (default register)
  --count N                total transactions (register/options) or calls
  --duration S             stop starting new work after S seconds (max 600)
  --rate R                 target starts per second over all workers; 0 = closed loop (default 0)
  --burst-ms MS            catch-up after a late wake-up: at most MS ms of requests back to back (default 10)
  --max-inflight N         concurrent transactions/calls over all workers (default 1000)
  --users N                distinct users user0..userN-1 (default 1000)
  --user-prefix P          user name prefix (default "user")
  --expires S              REGISTER Expires (default 3600)
  --domain D               domain in URIs (default: target host)
  --callee U               user part of INVITE/OPTIONS Request-URI (default "service")
  --hold-ms MS             time between ACK and BYE (default 0)
  --timeout-ms MS          transaction timeout, Timers B/F (default 32000)
  --t1-ms MS / --t2-ms MS  RFC 3261 T1 and T2 (default 500 / 4000)
  --max-failure-ratio F    exit 0 while failed/attempted <= F (default 0)
uas options:
  --listen HOST:PORT       port 0 picks one; the first stdout line is "listening udp HOST PORT"
  --duration S             exit after S seconds (default: run until SIGINT/SIGTERM)
  --reply-to via|source    where responses go: RFC 3261 18.2.2 Via rules (default) or the packet source
common:
  --workers W              worker threads, each with its own socket (default 1)
  --transport udp          only UDP is implemented
  --json FILE              also write the report as JSON
  --socket-buffer BYTES    SO_RCVBUF/SO_SNDBUF (default 8 MiB)
  --quiet                  no text report
exit status: 0 success, 1 failures above --max-failure-ratio, 2 usage or start-up error
)";
}

Options parseOptions(int argc, char** argv) {
  Options o;
  bool role_set = false;
  bool scenario_set = false;
  int i = 1;
  if (argc > 1 && argv[1][0] != '-') {
    const std::string_view r = argv[1];
    if (r == "uac") {
      o.role = Role::Uac;
    } else if (r == "uas") {
      o.role = Role::Uas;
    } else {
      throw UsageError("unknown role '" + std::string(r) + "' (expected uac or uas)");
    }
    role_set = true;
    i = 2;
  }
  for (; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (!arg.starts_with("--")) throw UsageError("unexpected argument '" + std::string(arg) + "'");
    arg.remove_prefix(2);
    std::string_view name = arg;
    std::string_view value;
    bool has_value = false;
    if (const auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (name == "quiet") {
      o.quiet = true;
      continue;
    }
    if (name == "help") throw UsageError("");
    if (!has_value) {
      if (i + 1 >= argc) throw UsageError("--" + std::string(name) + " needs a value");
      value = argv[++i];
    }
    const std::string v(value);
    if (name == "role") {
      if (v == "uac") {
        o.role = Role::Uac;
      } else if (v == "uas") {
        o.role = Role::Uas;
      } else {
        throw UsageError("--role: expected uac or uas, got '" + v + "'");
      }
      role_set = true;
    } else if (name == "scenario") {
      if (v == "register") {
        o.scenario = Scenario::Register;
      } else if (v == "call") {
        o.scenario = Scenario::Call;
      } else if (v == "options") {
        o.scenario = Scenario::Options;
      } else {
        throw UsageError("--scenario: expected register, call or options, got '" + v + "'");
      }
      scenario_set = true;
    } else if (name == "target") {
      o.target = v;
    } else if (name == "local") {
      o.local = v;
    } else if (name == "local-port") {
      o.local_port = parseNumber<uint16_t>(name, value, 0, 65535);
    } else if (name == "listen") {
      o.listen = v;
    } else if (name == "users") {
      o.users = parseNumber<uint64_t>(name, value, 1, 100'000'000);
    } else if (name == "expires") {
      o.expires = parseNumber<uint32_t>(name, value, 0, 1u << 31);
    } else if (name == "rate") {
      o.rate = parseNumber<double>(name, value, 0, 10'000'000);
    } else if (name == "burst-ms") {
      o.burst_ms = parseNumber<double>(name, value, 0, 1000);
    } else if (name == "count") {
      o.count = parseNumber<uint64_t>(name, value, 1, 1'000'000'000'000);
    } else if (name == "duration") {
      o.duration_s = parseNumber<double>(name, value, 0.001, kMaxUasDurationS);
    } else if (name == "max-inflight") {
      o.max_inflight = parseNumber<uint32_t>(name, value, 1, 1'000'000);
    } else if (name == "hold-ms") {
      o.hold_ms = parseNumber<uint32_t>(name, value, 0, 3'600'000);
    } else if (name == "timeout-ms") {
      o.timeout_ms = parseNumber<uint32_t>(name, value, 1, 600'000);
    } else if (name == "t1-ms") {
      o.t1_ms = parseNumber<uint32_t>(name, value, 1, 60'000);
    } else if (name == "t2-ms") {
      o.t2_ms = parseNumber<uint32_t>(name, value, 1, 600'000);
    } else if (name == "max-failure-ratio") {
      o.max_failure_ratio = parseNumber<double>(name, value, 0, 1);
    } else if (name == "domain") {
      o.domain = v;
    } else if (name == "callee") {
      o.callee = v;
    } else if (name == "user-prefix") {
      o.user_prefix = v;
    } else if (name == "reply-to") {
      if (v == "via") {
        o.reply_to_source = false;
      } else if (v == "source") {
        o.reply_to_source = true;
      } else {
        throw UsageError("--reply-to: expected via or source, got '" + v + "'");
      }
    } else if (name == "workers") {
      o.workers = parseNumber<uint32_t>(name, value, 1, 64);
    } else if (name == "transport") {
      if (v != "udp") throw UsageError("--transport: only udp is implemented (got '" + v + "')");
      o.transport = v;
    } else if (name == "json") {
      o.json_path = v;
    } else if (name == "socket-buffer") {
      o.socket_buffer = parseNumber<int>(name, value, 0, 1 << 30);
    } else {
      throw UsageError("unknown option --" + std::string(name));
    }
  }
  if (!role_set) throw UsageError("give a role: sipbench uac ... or sipbench uas ...");
  if (o.role == Role::Uac) {
    if (o.target.empty()) throw UsageError("uac needs --target HOST:PORT");
    // Always bounded: a load generator left running by mistake floods whatever it points at.
    if (o.count == 0 && o.duration_s == 0)
      throw UsageError("uac needs --count N or --duration S (runs are always bounded)");
    if (o.duration_s > kMaxDurationS)
      throw UsageError("--duration: at most " + std::to_string(static_cast<int>(kMaxDurationS)) + " s for uac");
    if (o.t2_ms < o.t1_ms) throw UsageError("--t2-ms must be >= --t1-ms");
    if (o.max_inflight < o.workers) throw UsageError("--max-inflight must be >= --workers");
    if (!scenario_set) o.scenario = Scenario::Register;
    if (o.domain.empty()) o.domain = o.target.substr(0, o.target.rfind(':'));
  }
  for (const std::string* s : {&o.domain, &o.callee, &o.user_prefix}) {
    // These go verbatim into headers; refuse anything that could break the message framing.
    for (char c : *s) {
      if (c == '\r' || c == '\n' || c == ' ' || c == '<' || c == '>' || c == ';' || c == ',')
        throw UsageError("--domain/--callee/--user-prefix may not contain spaces, CR, LF or <>;,");
    }
  }
  return o;
}

}  // namespace sipbench
