#include "enricher.h"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "background.h"

namespace sipedge::capture {

namespace {

// A numeric address as a sockaddr, or nothing. Brackets are allowed ("[::1]"); IPv4-mapped IPv6 becomes IPv4
// so that it finds the IPv4 networks of the database and the IPv4 reverse zone.
struct NumericAddress {
  sockaddr_storage ss{};
  socklen_t len = 0;
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&ss); }
};

std::optional<NumericAddress> parseNumeric(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  std::string s(text);
  NumericAddress a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.ss);
  if (inet_pton(AF_INET, s.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    a.len = sizeof(sockaddr_in);
    return a;
  }
  in6_addr six{};
  if (inet_pton(AF_INET6, s.c_str(), &six) != 1) return std::nullopt;
  if (IN6_IS_ADDR_V4MAPPED(&six)) {
    v4->sin_family = AF_INET;
    std::memcpy(&v4->sin_addr, &six.s6_addr[12], 4);
    a.len = sizeof(sockaddr_in);
    return a;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
  v6->sin6_family = AF_INET6;
  v6->sin6_addr = six;
  a.len = sizeof(sockaddr_in6);
  return a;
}

// Values from the database end up in exports and on screens: keep them short and free of control bytes.
std::string cleanText(const char* p, std::size_t n) {
  n = std::min<std::size_t>(n, 128);
  std::string s(p, n);
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}

// A PTR answer is untrusted input: accept only what a host name can look like (RFC 1123 letters, digits,
// hyphens, dots; underscores are seen in the wild), else treat it as "no name".
std::string plausibleHostname(std::string h) {
  if (!h.empty() && h.back() == '.') h.pop_back();
  if (h.empty() || h.size() > 253) return {};
  for (char c : h) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    if (!ok) return {};
  }
  return h;
}

// The resolver state (_res) is per thread in glibc; a modified one is kept, not reloaded from resolv.conf.
void setThreadResolverTimeout(std::chrono::milliseconds timeout) {
  thread_local bool done = false;
  if (done) return;
  done = true;
  if (res_init() != 0) return;
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout + std::chrono::milliseconds(999)).count();
  _res.retrans = static_cast<int>(std::clamp<std::int64_t>(secs, 1, 30));
  _res.retry = 1;
}

}  // namespace

std::string systemReverseLookup(const std::string& ip, std::chrono::milliseconds timeout) {
  auto addr = parseNumeric(ip);
  if (!addr) return {};
  setThreadResolverTimeout(timeout);
  char host[NI_MAXHOST];
  if (getnameinfo(addr->sa(), addr->len, host, sizeof host, nullptr, 0, NI_NAMEREQD) != 0) return {};
  return plausibleHostname(host);
}

// The open database. MMDB_s is read-only after MMDB_open, so lookups need no lock.
struct Enricher::GeoDb {
  MMDB_s mmdb{};
  explicit GeoDb(const std::string& path) {
    int rc = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &mmdb);
    if (rc != MMDB_SUCCESS) {
      std::string why = MMDB_strerror(rc);
      if (rc == MMDB_IO_ERROR || rc == MMDB_FILE_OPEN_ERROR) why += std::string(" (") + std::strerror(errno) + ")";
      throw EnrichError("geoip database '" + path + "': " + why);
    }
  }
  ~GeoDb() { MMDB_close(&mmdb); }
  GeoDb(const GeoDb&) = delete;
  GeoDb& operator=(const GeoDb&) = delete;
};

namespace {

std::string stringAt(MMDB_entry_s* entry, std::initializer_list<const char*> path) {
  const char* p[8] = {};
  std::size_t i = 0;
  for (const char* part : path) p[i++] = part;  // path lengths are fixed below, all < 8
  MMDB_entry_data_s data{};
  if (MMDB_aget_value(entry, &data, p) != MMDB_SUCCESS || !data.has_data) return {};
  if (data.type != MMDB_DATA_TYPE_UTF8_STRING) return {};
  return cleanText(data.utf8_string, data.data_size);
}

}  // namespace

Enricher::Enricher(Options o) : opt_(std::move(o)) {
  if (!opt_.geoipPath.empty()) geo_ = std::make_unique<GeoDb>(opt_.geoipPath);
  if (!opt_.resolve) {
    auto timeout = opt_.lookupTimeout;
    opt_.resolve = [timeout](const std::string& ip) { return systemReverseLookup(ip, timeout); };
  }
  if (opt_.cacheSize == 0) opt_.cacheSize = 1;
  if (opt_.reverseDns) {
    unsigned n = std::max(1u, opt_.resolverThreads);
    threads_.reserve(n);
    for (unsigned i = 0; i < n; ++i)
      threads_.emplace_back([this] {
        becomeBackgroundThread("se-resolver");
        resolverLoop();
      });
  }
}

Enricher::~Enricher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  for (auto& t : threads_) t.join();
}

Enricher::Clock::time_point Enricher::now() const {
  return opt_.clock ? opt_.clock() : Clock::now();
}

EnrichResult Enricher::lookupNow(const std::string& ip) const {
  EnrichResult r;
  if (!geo_) return r;
  auto addr = parseNumeric(ip);
  if (!addr) return r;
  stats_.geoLookups.fetch_add(1, std::memory_order_relaxed);
  int err = MMDB_SUCCESS;
  MMDB_lookup_result_s res = MMDB_lookup_sockaddr(&geo_->mmdb, addr->sa(), &err);
  if (err != MMDB_SUCCESS) {
    // An IPv6 address in an IPv4-only database is a miss, not a fault.
    if (err != MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR) stats_.geoErrors.fetch_add(1, std::memory_order_relaxed);
    return r;
  }
  if (!res.found_entry) return r;
  MMDB_entry_s* e = &res.entry;
  std::string country = stringAt(e, {"country", "iso_code", nullptr});
  if (country.empty()) country = stringAt(e, {"registered_country", "iso_code", nullptr});
  std::string subdivision = stringAt(e, {"subdivisions", "0", "names", "en", nullptr});
  std::string city = stringAt(e, {"city", "names", "en", nullptr});
  for (const std::string* part : {&country, &subdivision, &city}) {
    if (part->empty()) continue;
    if (!r.region.empty()) r.region += '/';
    r.region += *part;
  }
  r.isp = stringAt(e, {"isp", nullptr});
  if (r.isp.empty()) r.isp = stringAt(e, {"organization", nullptr});
  if (r.isp.empty()) r.isp = stringAt(e, {"autonomous_system_organization", nullptr});
  if (!r.region.empty() || !r.isp.empty()) stats_.geoHits.fetch_add(1, std::memory_order_relaxed);
  return r;
}

EnrichResult Enricher::enrich(const std::string& ip) {
  EnrichResult r = lookupNow(ip);
  if (!opt_.reverseDns) return r;
  if (auto h = cachedHostname(ip))
    r.hostname = std::move(*h);
  else
    requestHostname(ip);
  return r;
}

const Enricher::CacheEntry* Enricher::freshEntry(const std::string& ip, Clock::time_point t) {
  auto it = cache_.find(ip);
  if (it == cache_.end()) return nullptr;
  if (t >= it->second.expires) {
    lru_.erase(it->second.lru);
    cache_.erase(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return &it->second;
}

void Enricher::remember(const std::string& ip, std::string hostname, Clock::time_point t) {
  auto ttl = hostname.empty() ? opt_.negativeTtl : opt_.cacheTtl;
  auto it = cache_.find(ip);
  if (it != cache_.end()) {
    it->second.hostname = std::move(hostname);
    it->second.expires = t + ttl;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return;
  }
  lru_.push_front(ip);
  cache_.emplace(ip, CacheEntry{std::move(hostname), t + ttl, lru_.begin()});
  while (cache_.size() > opt_.cacheSize) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
}

std::optional<std::string> Enricher::cachedHostname(const std::string& ip) {
  if (!opt_.reverseDns) return std::nullopt;
  std::lock_guard lock(mu_);
  if (const CacheEntry* e = freshEntry(ip, now())) return e->hostname;
  return std::nullopt;
}

void Enricher::requestHostname(const std::string& ip) {
  if (!opt_.reverseDns) return;
  if (!parseNumeric(ip)) {  // never a forward lookup of a name someone put in a header
    stats_.invalid.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  stats_.requests.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    if (freshEntry(ip, now())) {
      stats_.cacheHits.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (pending_.count(ip)) {
      stats_.deduped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (queue_.size() >= opt_.queueSize) {
      stats_.dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.push_back(ip);
    pending_.insert(ip);
  }
  work_.notify_one();
}

std::vector<std::pair<std::string, std::string>> Enricher::takeResolved() {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, std::string>> out(std::make_move_iterator(resolved_.begin()),
                                                       std::make_move_iterator(resolved_.end()));
  resolved_.clear();
  return out;
}

bool Enricher::waitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return idle_.wait_for(lock, timeout, [this] { return queue_.empty() && running_ == 0; });
}

void Enricher::resolverLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    std::string ip = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();

    stats_.lookups.fetch_add(1, std::memory_order_relaxed);
    std::string host;
    try {
      host = plausibleHostname(opt_.resolve(ip));
    } catch (...) {
      host.clear();
    }
    (host.empty() ? stats_.notFound : stats_.found).fetch_add(1, std::memory_order_relaxed);

    lock.lock();
    --running_;
    pending_.erase(ip);
    if (!host.empty()) {
      if (resolved_.size() >= std::max<std::size_t>(1, opt_.resolvedBacklog)) {
        resolved_.pop_front();
        stats_.backlogDropped.fetch_add(1, std::memory_order_relaxed);
      }
      resolved_.emplace_back(ip, host);
    }
    remember(ip, std::move(host), now());
    if (queue_.empty() && running_ == 0) idle_.notify_all();
  }
  // Abandoned lookups: nobody waits for them, but waitIdle() callers must not hang.
  queue_.clear();
  pending_.clear();
  idle_.notify_all();
}

}  // namespace sipedge::capture
