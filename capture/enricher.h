// IP-log enrichment, all of it on the writer's side, never on the forwarding path:
// - region and ISP from a MaxMind DB file (libmaxminddb, memory-mapped): a synchronous lookup of a few
//   microseconds, fine on the writer thread;
// - the reverse-DNS hostname, asynchronously: requests go to a bounded queue (a full queue drops and counts)
//   served by small resolver threads, and results land in a TTL- and size-bounded cache that also keeps negative
//   answers, so one unresolvable address costs one lookup per negative TTL, not one per REGISTER.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sipedge::capture {

// Thrown by the Enricher constructor only (start-up): a configured database that is missing, unreadable or not
// a valid MaxMind DB. what() reads "geoip database 'PATH': REASON".
class EnrichError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct EnrichResult {
  std::string region;    // "DE/Bavaria/Munich": country ISO code, first subdivision, city, as far as the DB knows
  std::string isp;       // isp, else organization, else autonomous_system_organization; "" when unknown
  std::string hostname;  // only from Enricher::enrich(): the cached name, "" when none (yet)
};

// Reverse lookup of one numeric address with the system resolver (getnameinfo, NI_NAMEREQD: no numeric
// fallback). Returns the name, or "" when there is none, on error, or when the answer is not a plausible host
// name. `timeout` is best effort: it sets this thread's resolver timeout (whole seconds, one attempt per
// server); /etc/hosts answers come first where nsswitch says so. Never called with anything but an address.
std::string systemReverseLookup(const std::string& ip, std::chrono::milliseconds timeout);

class Enricher {
 public:
  using Clock = std::chrono::steady_clock;
  // Returns the host name of `ip`, or "" for none. Runs on the resolver threads (concurrently when there are
  // several); may block. An exception counts as "no name".
  using ResolveFn = std::function<std::string(const std::string& ip)>;

  struct Options {
    std::string geoipPath;  // "" = no region/ISP lookups
    bool reverseDns = false;
    std::size_t cacheSize = 10000;          // hostname cache entries (positive and negative), LRU beyond
    std::chrono::seconds cacheTtl{3600};    // a found name
    std::chrono::seconds negativeTtl{300};  // no name / lookup failed
    std::size_t queueSize = 1024;           // lookups waiting for a resolver thread; beyond that requests drop
    unsigned resolverThreads = 1;
    std::chrono::milliseconds lookupTimeout{2000};  // per lookup, for the system resolver
    std::size_t resolvedBacklog = 4096;             // finished names kept for takeResolved(); the oldest go beyond
    ResolveFn resolve;                              // test hook; default systemReverseLookup(ip, lookupTimeout)
    std::function<Clock::time_point()> clock;       // test hook; default steady_clock::now. Called under a lock.
  };

  struct Stats {
    std::atomic<std::uint64_t> geoLookups{0}, geoHits{0}, geoErrors{0};
    std::atomic<std::uint64_t> requests{0}, cacheHits{0}, deduped{0}, dropped{0}, invalid{0};
    std::atomic<std::uint64_t> lookups{0}, found{0}, notFound{0}, backlogDropped{0};
  };

  // Opens the database (when configured) and starts the resolver threads (when reverseDns). Throws EnrichError
  // naming the file when the database cannot be opened.
  explicit Enricher(Options o);
  // Stops the resolver threads: queued lookups are abandoned, one in progress is waited for (the system
  // resolver gives up after about lookupTimeout).
  ~Enricher();
  Enricher(const Enricher&) = delete;
  Enricher& operator=(const Enricher&) = delete;

  bool geoEnabled() const { return geo_ != nullptr; }
  bool reverseDnsEnabled() const { return opt_.reverseDns; }

  // Region and ISP of `ip` (numeric IPv4 or IPv6, brackets allowed; IPv4-mapped IPv6 looked up as IPv4).
  // Empty fields when there is no database, no entry, or the address is not numeric. Any thread.
  EnrichResult lookupNow(const std::string& ip) const;

  // lookupNow() plus the cached hostname; asks for the hostname (requestHostname) when it is not cached.
  // The writer's one call per registration.
  EnrichResult enrich(const std::string& ip);

  // The cached name: nullopt when not cached (or expired), "" when the address is known to have none.
  std::optional<std::string> cachedHostname(const std::string& ip);

  // Queues a reverse lookup unless reverse DNS is off, `ip` is not a numeric address, the cache holds a fresh
  // answer, a lookup for it is already queued or running, or the queue is full (dropped, counted). Never blocks
  // on the resolver. Any thread.
  void requestHostname(const std::string& ip);

  // The names found since the last call, as (ip as requested, hostname); negative answers are not reported.
  // The caller owns the returned vector. Any thread (the writer, each loop).
  std::vector<std::pair<std::string, std::string>> takeResolved();

  // Tests and shutdown: waits until no lookup is queued or running; false on timeout.
  bool waitIdle(std::chrono::milliseconds timeout);

  const Stats& stats() const { return stats_; }

 private:
  struct GeoDb;
  struct CacheEntry {
    std::string hostname;
    Clock::time_point expires;
    std::list<std::string>::iterator lru;
  };

  void resolverLoop();
  Clock::time_point now() const;
  // Both need mu_ held.
  const CacheEntry* freshEntry(const std::string& ip, Clock::time_point now);
  void remember(const std::string& ip, std::string hostname, Clock::time_point now);

  Options opt_;
  std::unique_ptr<GeoDb> geo_;
  mutable Stats stats_;

  std::mutex mu_;
  std::condition_variable work_;  // resolver threads: queue not empty or stopping
  std::condition_variable idle_;  // waitIdle: nothing queued or running
  bool stopping_ = false;
  std::deque<std::string> queue_;
  std::unordered_set<std::string> pending_;  // queued or being resolved: requests for these are deduplicated
  std::size_t running_ = 0;
  std::unordered_map<std::string, CacheEntry> cache_;
  std::list<std::string> lru_;  // most recently used first
  std::deque<std::pair<std::string, std::string>> resolved_;
  std::vector<std::thread> threads_;
};

}  // namespace sipedge::capture
