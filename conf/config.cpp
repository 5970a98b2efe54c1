// Loads conf/sipedge.toml into a Config. Every option is checked: type, range, and unknown keys, so a typo is an
// error that names the file, line and option instead of a silently ignored setting.
#include "config.h"

#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <charconv>
#include <set>
#include <sstream>
#include <thread>

#include "capture/mac.h"

#define TOML_ENABLE_FORMATTERS 0
#include <toml++/toml.h>

namespace sipedge::conf {

std::string_view transportName(Transport t) {
  return t == Transport::Tcp ? "tcp" : "udp";
}

std::optional<Transport> parseTransport(std::string_view s) {
  if (s == "udp" || s == "UDP") return Transport::Udp;
  if (s == "tcp" || s == "TCP") return Transport::Tcp;
  return std::nullopt;
}

static bool isIp(const std::string& s) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(s, ec);
  return !ec;
}

std::string Target::text() const {
  std::string a = address.find(':') != std::string::npos ? "[" + address + "]" : address;
  return std::string(transportName(transport)) + ":" + a + ":" + std::to_string(port);
}

std::optional<Target> parseTarget(std::string_view s) {
  Target t;
  if (auto c = s.find(':'); c != std::string_view::npos) {
    if (auto tr = parseTransport(s.substr(0, c))) {
      t.transport = *tr;
      s.remove_prefix(c + 1);
    }
  }
  std::string_view host, port;
  if (!s.empty() && s.front() == '[') {
    auto e = s.find(']');
    if (e == std::string_view::npos) return std::nullopt;
    host = s.substr(1, e - 1);
    auto rest = s.substr(e + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
  } else {
    auto c = s.rfind(':');
    if (c != std::string_view::npos && s.find(':') == c) {
      host = s.substr(0, c);
      port = s.substr(c + 1);
    } else {
      host = s;  // bare IPv4, or IPv6 without a port
    }
  }
  t.address = std::string(host);
  if (!isIp(t.address)) return std::nullopt;
  if (!port.empty()) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535) return std::nullopt;
    t.port = static_cast<std::uint16_t>(v);
  }
  return t;
}

std::optional<std::chrono::seconds> parseDuration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::int64_t mult = 1;
  switch (s.back()) {
    case 'd':
      mult = 86400;
      s.remove_suffix(1);
      break;
    case 'h':
      mult = 3600;
      s.remove_suffix(1);
      break;
    case 'm':
      mult = 60;
      s.remove_suffix(1);
      break;
    case 's':
      s.remove_suffix(1);
      break;
    default:
      break;
  }
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0 || v > 100LL * 365 * 86400 / mult) return std::nullopt;
  return std::chrono::seconds(v * mult);
}

namespace {

// Walks one TOML table, remembering which keys were read so leftovers can be reported as unknown.
class TableReader {
 public:
  TableReader(const toml::table& t, std::string prefix, const std::string& file)
      : t_(t), prefix_(std::move(prefix)), file_(file) {}

  [[noreturn]] void fail(const toml::node* n, std::string_view key, const std::string& what) const {
    std::ostringstream os;
    os << file_ << ":" << line(n) << ": option '" << prefix_ << key << "': " << what;
    throw ConfigError(os.str());
  }

  std::size_t line(const toml::node* n) const {
    if (n && n->source().begin.line) return n->source().begin.line;
    return t_.source().begin.line;
  }

  const toml::node* get(std::string_view key) {
    seen_.insert(std::string(key));
    return t_.get(key);
  }

  std::optional<std::string> str(std::string_view key) {
    auto* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) fail(n, key, "must be a string");
    return std::string(*n->value<std::string_view>());
  }

  std::optional<std::int64_t> integer(std::string_view key, std::int64_t lo, std::int64_t hi) {
    auto* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_integer()) fail(n, key, "must be an integer");
    auto v = *n->value<std::int64_t>();
    if (v < lo || v > hi) fail(n, key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    return v;
  }

  std::optional<bool> boolean(std::string_view key) {
    auto* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_boolean()) fail(n, key, "must be true or false");
    return *n->value<bool>();
  }

  // A duration string ("90d", "12h", "30m", "45s") into `into`, when present; "0s" only where `zeroOk`.
  void duration(std::string_view key, std::chrono::seconds& into, bool zeroOk = false) {
    if (auto v = str(key)) {
      auto d = zeroOk && (*v == "0" || *v == "0s") ? std::optional(std::chrono::seconds(0)) : parseDuration(*v);
      if (!d) fail(get(key), key, "'" + *v + "' is not a duration such as 90d, 12h, 30m or 45s");
      into = *d;
    }
  }

  std::vector<std::pair<std::string, const toml::node*>> strings(std::string_view key) {
    std::vector<std::pair<std::string, const toml::node*>> out;
    auto* n = get(key);
    if (!n) return out;
    auto* a = n->as_array();
    if (!a) fail(n, key, "must be an array of strings");
    for (auto& e : *a) {
      if (!e.is_string()) fail(&e, key, "must be an array of strings");
      out.emplace_back(std::string(*e.value<std::string_view>()), &e);
    }
    return out;
  }

  void rejectUnknown() const {
    for (auto& [k, v] : t_) {
      if (!seen_.count(std::string(k.str()))) fail(&v, k.str(), "unknown option");
    }
  }

 private:
  const toml::table& t_;
  std::string prefix_;
  const std::string& file_;
  std::set<std::string, std::less<>> seen_;
};

Target requireTarget(TableReader& r, const std::string& s, const toml::node* n, std::string_view key) {
  auto t = parseTarget(s);
  if (!t) r.fail(n, key, "'" + s + "' is not transport:ip:port (e.g. udp:127.0.0.1:5080)");
  return *t;
}

void loadInto(Config& c, const toml::table& root, const std::string& file) {
  TableReader top(root, "", file);

  auto table = [&](std::string_view name) -> const toml::table* {
    auto* n = top.get(name);
    if (!n) return nullptr;
    auto* t = n->as_table();
    if (!t) top.fail(n, name, "must be a table [" + std::string(name) + "]");
    return t;
  };

  if (auto* t = table("server")) {
    TableReader r(*t, "server.", file);
    if (auto v = r.integer("workers", 0, 256)) c.workers = static_cast<unsigned>(*v);
    if (auto v = r.str("data_dir")) {
      if (v->empty()) r.fail(r.get("data_dir"), "data_dir", "must not be empty");
      c.dataDir = *v;
    }
    if (auto v = r.str("log_level")) {
      static const std::pair<const char*, LogLevel> levels[] = {
          {"error", LogLevel::Error}, {"warn", LogLevel::Warn}, {"info", LogLevel::Info}, {"debug", LogLevel::Debug}};
      bool ok = false;
      for (auto& [name, lvl] : levels)
        if (*v == name) c.logLevel = lvl, ok = true;
      if (!ok) r.fail(r.get("log_level"), "log_level", "must be one of error, warn, info, debug");
    }
    if (auto v = r.boolean("log_clear_numbers")) c.logClearNumbers = *v;
    r.rejectUnknown();
  }

  if (auto* n = top.get("listen")) {
    auto* arr = n->as_array();
    if (!arr || !arr->is_array_of_tables()) top.fail(n, "listen", "must be an array of tables [[listen]]");
    for (auto& e : *arr) {
      TableReader r(*e.as_table(), "listen.", file);
      Listen l;
      auto tr = r.str("transport");
      if (!tr) r.fail(&e, "transport", "is required (udp or tcp)");
      auto parsed = parseTransport(*tr);
      if (!parsed) r.fail(r.get("transport"), "transport", "must be udp or tcp");
      l.transport = *parsed;
      auto a = r.str("address");
      if (!a) r.fail(&e, "address", "is required");
      if (!isIp(*a)) r.fail(r.get("address"), "address", "'" + *a + "' is not a numeric IPv4 or IPv6 address");
      l.address = *a;
      if (auto p = r.integer("port", 0, 65535)) l.port = static_cast<std::uint16_t>(*p);
      r.rejectUnknown();
      c.listen.push_back(l);
    }
  }
  if (c.listen.empty()) top.fail(nullptr, "listen", "at least one [[listen]] entry is required");

  if (auto* t = table("internal")) {
    TableReader r(*t, "internal.", file);
    if (auto v = r.str("address")) {
      if (!isIp(*v)) r.fail(r.get("address"), "address", "'" + *v + "' is not a numeric IPv4 or IPv6 address");
      c.internalAddress = *v;
    }
    if (auto v = r.integer("port_base", 0, 65535)) c.internalPortBase = static_cast<std::uint16_t>(*v);
    r.rejectUnknown();
  }

  if (auto* t = table("pbx")) {
    TableReader r(*t, "pbx.", file);
    for (auto& [s, n] : r.strings("targets")) c.pbx.push_back(requireTarget(r, s, n, "targets"));
    if (auto v = r.integer("ping_interval_ms", 50, 3600000)) c.pingInterval = std::chrono::milliseconds(*v);
    if (auto v = r.integer("ping_timeout_ms", 10, 600000)) c.pingTimeout = std::chrono::milliseconds(*v);
    if (auto v = r.integer("ping_failures", 1, 100)) c.pingFailures = static_cast<unsigned>(*v);
    for (auto& [s, n] : r.strings("trusted")) {
      if (!isIp(s)) r.fail(n, "trusted", "'" + s + "' is not a numeric IP address");
      c.coreTrusted.push_back(s);
    }
    r.rejectUnknown();
  }
  if (c.pbx.empty()) top.fail(nullptr, "pbx.targets", "at least one PBX target is required");

  if (auto* n = top.get("carrier")) {
    auto* arr = n->as_array();
    if (!arr || !arr->is_array_of_tables()) top.fail(n, "carrier", "must be an array of tables [[carrier]]");
    for (auto& e : *arr) {
      TableReader r(*e.as_table(), "carrier.", file);
      Carrier k;
      auto name = r.str("name");
      if (!name || name->empty()) r.fail(&e, "name", "is required");
      k.name = *name;
      auto tg = r.str("target");
      if (!tg) r.fail(&e, "target", "is required (e.g. udp:203.0.113.10:5060)");
      k.target = requireTarget(r, *tg, r.get("target"), "target");
      r.rejectUnknown();
      c.carriers.push_back(k);
    }
  }

  if (auto* t = table("capture")) {
    TableReader r(*t, "capture.", file);
    if (auto v = r.boolean("enabled")) c.captureEnabled = *v;
    if (auto v = r.integer("queue_size", 64, 1 << 24)) c.captureQueueSize = static_cast<std::size_t>(*v);
    r.duration("max_call_duration", c.maxCallDuration);
    r.duration("call_setup_timeout", c.callSetupTimeout);
    r.duration("sweep_interval", c.captureSweepInterval);
    r.duration("refresh_write_interval", c.refreshWriteInterval, true);
    if (auto v = r.str("devices_file")) c.devicesFile = *v;
    if (auto v = r.str("geoip_database")) c.geoipDatabase = *v;
    if (auto v = r.boolean("reverse_dns")) c.reverseDns = *v;
    for (auto& [s, n] : r.strings("provisioned")) {
      std::string mac = capture::normaliseMac(s);
      if (mac.empty()) r.fail(n, "provisioned", "'" + s + "' is not a MAC address (aa:bb:cc:dd:ee:ff)");
      c.provisionedMacs.push_back(mac);
    }
    r.rejectUnknown();
  }

  if (auto* t = table("store")) {
    TableReader r(*t, "store.", file);
    if (auto v = r.str("path")) c.storePath = *v;
    if (auto v = r.str("key_file")) c.storeKeyFile = *v;
    r.duration("ip_log_retention", c.ipLogRetention);
    r.duration("cdr_retention", c.cdrRetention);
    r.duration("audit_retention", c.auditRetention);
    if (auto v = r.boolean("sync")) c.storeSync = *v;
    r.rejectUnknown();
  }

  if (auto* t = table("limits")) {
    TableReader r(*t, "limits.", file);
    if (auto v = r.integer("max_message_bytes", 1024, 65535)) c.maxMessageBytes = static_cast<std::size_t>(*v);
    if (auto v = r.integer("max_header_bytes", 512, 65535)) c.maxHeaderBytes = static_cast<std::size_t>(*v);
    if (auto v = r.integer("tcp_idle_timeout_s", 1, 86400)) c.tcpIdleTimeout = std::chrono::seconds(*v);
    if (auto v = r.integer("tcp_max_connections", 1, 1000000)) c.tcpMaxConnections = static_cast<std::size_t>(*v);
    r.rejectUnknown();
    if (c.maxHeaderBytes > c.maxMessageBytes)
      r.fail(r.get("max_header_bytes"), "max_header_bytes", "must not exceed max_message_bytes");
  }

  top.rejectUnknown();
  if (c.storePath.empty()) c.storePath = c.dataDir + "/store";
  if (c.storeKeyFile.empty()) c.storeKeyFile = c.dataDir + "/store.key";
  if (c.workers == 0) c.workers = std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

std::shared_ptr<const Config> parseConfig(std::string_view text, const std::string& name) {
  auto c = std::make_shared<Config>();
  c->sourcePath = name;
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << name << ":" << e.source().begin.line << ": " << e.description();
    throw ConfigError(os.str());
  }
  loadInto(*c, root, name);
  return c;
}

std::shared_ptr<const Config> loadConfig(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw ConfigError(path + ": cannot open config file");
  std::string text;
  char buf[8192];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
  std::fclose(f);
  return parseConfig(text, path);
}

}  // namespace sipedge::conf
