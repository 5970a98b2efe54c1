// Typed, immutable sipedge configuration and its loader. Workers share one `shared_ptr<const Config>`.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sipedge::conf {

enum class Transport : std::uint8_t { Udp, Tcp };

std::string_view transportName(Transport t);  // "udp" / "tcp"
std::optional<Transport> parseTransport(std::string_view s);

// "udp:127.0.0.1:5080", "tcp:[::1]:5080" or "127.0.0.1:5080" (udp).
struct Target {
  Transport transport = Transport::Udp;
  std::string address;  // numeric IPv4 or IPv6, without brackets
  std::uint16_t port = 5060;
  std::string text() const;  // as written in config form
};
std::optional<Target> parseTarget(std::string_view s);

// "90d", "12h", "30m", "45s" (or a bare number of seconds).
std::optional<std::chrono::seconds> parseDuration(std::string_view s);

struct Listen {
  Transport transport = Transport::Udp;
  std::string address;
  std::uint16_t port = 5060;
};

struct Carrier {
  std::string name;
  Target target;
};

enum class LogLevel : std::uint8_t { Error, Warn, Info, Debug };

struct Config {
  std::string sourcePath;  // the file this came from, for messages

  // [server]
  unsigned workers = 0;  // resolved: never 0 after load
  std::string dataDir = "data";
  LogLevel logLevel = LogLevel::Info;
  bool logClearNumbers = false;

  std::vector<Listen> listen;

  // [internal]
  std::string internalAddress = "127.0.0.1";
  std::uint16_t internalPortBase = 5070;  // 0 = ephemeral

  // [pbx]
  std::vector<Target> pbx;
  std::chrono::milliseconds pingInterval{2000};
  std::chrono::milliseconds pingTimeout{1000};
  unsigned pingFailures = 2;
  std::vector<std::string> coreTrusted;  // extra addresses in the core zone

  std::vector<Carrier> carriers;

  // [capture]
  bool captureEnabled = true;
  std::size_t captureQueueSize = 65536;            // events per worker
  std::chrono::seconds maxCallDuration{4 * 3600};  // an answered call with no BYE is closed after this
  std::chrono::seconds callSetupTimeout{300};      // an unanswered INVITE dialog is closed after this
  std::chrono::seconds captureSweepInterval{10};   // device expiry and retention passes
  std::chrono::seconds refreshWriteInterval{60};   // unchanged REGISTER refreshes written at most this late
  std::string devicesFile;                   // "" = the table built into the binary (conf/devices.tsv at build time)
  std::vector<std::string> provisionedMacs;  // normalised aa:bb:cc:dd:ee:ff
  std::string geoipDatabase;                 // MaxMind DB file for IP-log region/ISP; "" = off
  bool reverseDns = false;                   // IP-log hostnames by asynchronous reverse DNS

  // [store]
  std::string storePath;     // default data_dir/store
  std::string storeKeyFile;  // default data_dir/store.key
  std::chrono::seconds ipLogRetention{90 * 86400};
  std::chrono::seconds cdrRetention{365 * 86400};
  std::chrono::seconds auditRetention{365 * 86400};
  bool storeSync = false;  // fsync every batch (power-loss safety) instead of relying on the OS for the WAL

  // [limits]
  std::size_t maxMessageBytes = 65535;
  std::size_t maxHeaderBytes = 16384;
  std::chrono::seconds tcpIdleTimeout{300};
  std::size_t tcpMaxConnections = 10000;
};

// Thrown at start-up only. what() reads "FILE:LINE: option 'x.y': problem".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses and validates a config file. Throws ConfigError on any problem.
std::shared_ptr<const Config> loadConfig(const std::string& path);
// Same, from text (tests); `name` stands for the file in messages.
std::shared_ptr<const Config> parseConfig(std::string_view text, const std::string& name);

}  // namespace sipedge::conf
