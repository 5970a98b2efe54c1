// Options: the command line of sipbench, parsed and validated once at start-up. Parsing throws
// UsageError (tools may use exceptions at start-up); nothing later reads argv.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace sipbench {

enum class Role : uint8_t { Uac, Uas };
enum class Scenario : uint8_t { Register, Call, Options };

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline constexpr double kMaxDurationS = 600;       // hard cap on any UAC run: the generator never runs away
inline constexpr double kMaxUasDurationS = 86400;  // a UAS may serve many UAC runs of one benchmark

struct Options {
  Role role = Role::Uac;
  // UAC
  Scenario scenario = Scenario::Register;
  std::string target;               // HOST:PORT
  std::string local = "127.0.0.1";  // bind address of UAC sockets (port 0: ephemeral, one per worker)
  uint16_t local_port = 0;          // worker i binds local_port + i; 0 = ephemeral
  uint64_t users = 1000;
  uint32_t expires = 3600;
  double rate = 0;  // per second, over all workers; 0 = as fast as --max-inflight allows
  double burst_ms = 10;  // catch-up after a late wake-up: at most this many ms of requests back to back
  uint64_t count = 0;
  double duration_s = 0;
  uint32_t max_inflight = 1000;
  uint32_t hold_ms = 0;
  uint32_t timeout_ms = 32000;  // 64*T1, RFC 3261 Timers B and F
  uint32_t t1_ms = 500;
  uint32_t t2_ms = 4000;
  double max_failure_ratio = 0;
  std::string domain;  // default: the target host
  std::string callee = "service";
  std::string user_prefix = "user";
  // UAS
  std::string listen = "127.0.0.1:5060";
  bool reply_to_source = false;  // default replies per RFC 3261 §18.2.2 (Via received/rport/sent-by)
  // Both
  uint32_t workers = 1;
  std::string transport = "udp";
  std::string json_path;
  int socket_buffer = 8 << 20;
  bool quiet = false;
};

// argv[1] may be the role ("uac" / "uas"); --role works too.
Options parseOptions(int argc, char** argv);
std::string usageText();
std::string_view scenarioName(Scenario s);

}  // namespace sipbench
