#include "writer.h"

#include <algorithm>
#include <chrono>

#include "background.h"
#include "mac.h"

namespace sipedge::capture {

namespace {

Millis wallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A keyed hash (SipHash-2-4, key random per writer) of the parts, each length-prefixed (no two lists of parts
// give the same bytes). Keyed, so a phone cannot craft a changed registration (a new address, say) whose
// fingerprint equals the stored one's and have it taken for a refresh.
std::uint64_t hashParts(std::string& scratch, const KeyedHash& hash, std::initializer_list<std::string_view> parts) {
  scratch.clear();
  for (std::string_view p : parts) {
    const auto n = static_cast<std::uint32_t>(p.size());
    scratch.append(reinterpret_cast<const char*>(&n), sizeof n);
    scratch.append(p);
  }
  return hash(scratch);
}

// A pending refresh is written this long before the device expiry the store holds, so an expiry sweep never
// deletes a device whose registration was refreshed.
constexpr Millis kExpiryMargin = 2000;

std::string deviceMac(const RegistrationEvent& e) {
  std::string m = macFromInstance(e.instance);
  if (m.empty()) m = macFromContactParams(e.contactParams);
  if (m.empty()) m = macFromUserAgent(e.userAgent);
  return m;
}

}  // namespace

CaptureWriter::CaptureWriter(store::Store& store, const DeviceParser& devices, std::vector<WorkerCapture*> sources,
                             Options o)
    : store_(store), devices_(devices), sources_(std::move(sources)), opt_(o) {}

CaptureWriter::~CaptureWriter() {
  stop();
}

void CaptureWriter::start() {
  running_ = true;
  nextSweep_ = std::chrono::steady_clock::now() + opt_.sweepInterval;
  thread_ = std::thread([this] {
    becomeBackgroundThread("se-writer");
    run();
  });
}

void CaptureWriter::stop() {
  if (!thread_.joinable()) return;
  running_ = false;
  thread_.join();
}

std::future<std::string> CaptureWriter::submit(std::function<std::string(store::Store&)> job) {
  std::packaged_task<std::string(store::Store&)> task(std::move(job));
  auto f = task.get_future();
  std::lock_guard lock(jobsMutex_);
  jobs_.push_back(std::move(task));
  return f;
}

void CaptureWriter::apply(RegistrationEvent& e) {
  const Millis interval = opt_.refreshWriteInterval.count();
  if (interval <= 0) {
    addRows(e, 1);
    return;
  }
  if (e.wildcard) {
    forgetUser(hashParts(hashScratch_, hash_, {e.tenant, e.user}));
    addRows(e, 1);
    return;
  }
  const std::string_view instance = e.instance.empty() ? e.contact : e.instance;
  const std::uint64_t key = hashParts(hashScratch_, hash_, {"binding", e.tenant, e.user, instance});
  const std::string port = std::to_string(e.srcPort);
  const std::uint64_t fp =
      hashParts(hashScratch_, hash_,
                {e.tenant, e.user, e.contact, e.instance, e.contactParams, e.userAgent, e.srcIp, port, e.transport});
  const Millis expiresAt = e.time + e.expires * 1000;
  auto it = bindings_.find(key);
  if (e.expires > 0 && it != bindings_.end() && it->second.fingerprint == fp && e.time < it->second.storedExpiresAt &&
      expiresAt >= it->second.storedExpiresAt) {
    Binding& b = it->second;
    if (!b.pending) {
      b.pending = std::make_unique<PendingRefresh>();
      // On the writer's clock: events carry the time the worker saw the answer, the deadline is the time left.
      const Millis now = wallMs();
      b.pending->flushBy = std::min(now + interval, now + (b.storedExpiresAt - e.time) - kExpiryMargin);
      refreshDue_.emplace(b.pending->flushBy, key);
      b.pending->latest = std::move(e);
    } else {  // the fingerprint says everything else is what the pending one holds already
      b.pending->latest.time = e.time;
      b.pending->latest.expires = e.expires;
    }
    if (b.pending->count < UINT32_MAX) ++b.pending->count;
    stats_.refreshesCoalesced.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (it != bindings_.end()) flushRefresh(it->second);  // what this binding had pending goes first
  const bool leaving = e.expires == 0;
  const std::uint64_t userHash =
      it == bindings_.end() && !leaving ? hashParts(hashScratch_, hash_, {e.tenant, e.user}) : 0;
  addRows(e, 1);
  if (leaving) {
    if (it != bindings_.end()) bindings_.erase(it);
  } else if (it != bindings_.end()) {
    it->second.fingerprint = fp;
    it->second.storedExpiresAt = expiresAt;
  } else if (bindings_.size() < opt_.maxBindings) {
    bindings_.emplace(key, Binding{userHash, fp, expiresAt, nullptr});
  }
}

void CaptureWriter::flushRefresh(Binding& b) {
  if (!b.pending) return;
  std::unique_ptr<PendingRefresh> p = std::move(b.pending);
  b.storedExpiresAt = p->latest.time + p->latest.expires * 1000;
  addRows(p->latest, p->count);
}

void CaptureWriter::flushRefreshes(Millis now, bool all) {
  if (all) {
    for (auto& [k, b] : bindings_) flushRefresh(b);
    refreshDue_ = {};
    return;
  }
  while (!refreshDue_.empty() && refreshDue_.top().first <= now) {
    auto [due, key] = refreshDue_.top();
    refreshDue_.pop();
    auto it = bindings_.find(key);
    if (it != bindings_.end() && it->second.pending && it->second.pending->flushBy == due) flushRefresh(it->second);
  }
}

void CaptureWriter::forgetUser(std::uint64_t userHash) {
  for (auto it = bindings_.begin(); it != bindings_.end();) {
    if (it->second.userHash == userHash) {
      flushRefresh(it->second);
      it = bindings_.erase(it);
    } else {
      ++it;
    }
  }
}

void CaptureWriter::addRows(RegistrationEvent& e, std::uint32_t count) {
  store::Batch& b = batch_;
  store::IpLogEntry ip;
  ip.tenant = e.tenant;
  ip.user = e.user;
  ip.ip = e.srcIp;
  ip.port = e.srcPort;
  ip.transport = e.transport;
  ip.firstSeen = ip.lastSeen = e.time;
  ip.count = count;
  ip.event = e.expires > 0 ? "register" : "unregister";
  if (auto* en = opt_.enricher) {
    EnrichResult geo = en->lookupNow(e.srcIp);
    ip.region = std::move(geo.region);
    ip.isp = std::move(geo.isp);
    if (en->reverseDnsEnabled()) {
      if (auto h = en->cachedHostname(e.srcIp)) {
        ip.hostname = std::move(*h);
      } else {
        en->requestHostname(e.srcIp);
        if (awaitingHostname_.size() > 65536) awaitingHostname_.clear();  // bound memory; later REGISTERs fill in
        auto& who = awaitingHostname_[e.srcIp];
        std::pair<std::string, std::string> tu{e.tenant, e.user};
        if (who.size() < 64 && std::find(who.begin(), who.end(), tu) == who.end()) who.push_back(std::move(tu));
      }
    }
  }
  b.upsertIpLog(std::move(ip));

  if (e.wildcard) {  // every binding of the AOR is gone
    // The store's devices() reads what is written: write what this batch already holds first (a REGISTER and a
    // "Contact: *" of the same AOR can share a drain).
    writeBatch();
    for (auto& d : store_.devices(e.tenant, e.user)) {
      if (!d.mac.empty() && store_.isProvisioned(d.mac)) continue;
      b.deleteDevice(d.tenant, d.user, d.instance);
    }
    return;
  }
  std::string instance = e.instance.empty() ? std::move(e.contact) : std::move(e.instance);
  std::string mac = deviceMac(e);
  if (e.expires == 0) {
    // The store keeps the device when its stored MAC is provisioned; this covers a MAC only the REGISTER shows.
    if (mac.empty() || !store_.isProvisioned(mac))
      b.deleteDevice(std::move(e.tenant), std::move(e.user), std::move(instance));
    return;
  }
  store::DeviceRecord d;
  DeviceInfo info = devices_.parse(e.userAgent);
  d.tenant = std::move(e.tenant);
  d.user = std::move(e.user);
  d.instance = std::move(instance);
  d.userAgent = std::move(e.userAgent);
  d.brand = std::move(info.brand);
  d.model = std::move(info.model);
  d.firmware = std::move(info.firmware);
  d.mac = std::move(mac);
  d.ip = std::move(e.srcIp);
  d.port = e.srcPort;
  d.transport = std::move(e.transport);
  d.firstSeen = e.time;  // the store keeps an earlier first-seen of the same device
  d.lastSeen = e.time;
  d.expiresAt = e.time + e.expires * 1000;
  b.putDevice(std::move(d));
}

void CaptureWriter::writeBatch() {
  if (batch_.empty()) return;
  std::string err;
  if (!store_.write(batch_, &err)) {
    stats_.writeErrors.fetch_add(1, std::memory_order_relaxed);
    // What the store holds is no longer known: write the next REGISTER of every binding in full (refreshes
    // already pending stay, to be written with the next batch).
    for (auto& [k, b] : bindings_) b.fingerprint = 0;
  }
  stats_.batches.fetch_add(1, std::memory_order_relaxed);
  batch_.clear();
}

std::size_t CaptureWriter::drainOnce() {
  std::size_t n = 0;
  // Names that arrived for rows written by earlier batches; first in the batch, so the store applies them
  // before this batch's upserts of the same rows.
  if (opt_.enricher) {
    for (auto& [addr, host] : opt_.enricher->takeResolved()) {
      auto it = awaitingHostname_.find(addr);
      if (it == awaitingHostname_.end()) continue;
      for (auto& [tenant, user] : it->second) batch_.enrichIpLog(tenant, user, addr, host);
      awaitingHostname_.erase(it);
    }
  }
  for (auto* src : sources_) {
    while (n < opt_.maxBatch) {
      auto ev = src->queue.pop();
      if (!ev) break;
      ++n;
      if (auto* r = std::get_if<RegistrationEvent>(&*ev))
        apply(*r);
      else if (auto* c = std::get_if<CdrEvent>(&*ev))
        batch_.putCdr(std::move(c->cdr));
    }
  }
  flushRefreshes(wallMs(), false);
  writeBatch();
  stats_.events.fetch_add(n, std::memory_order_relaxed);
  return n;
}

void CaptureWriter::housekeeping(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now < nextSweep_) return;
  nextSweep_ = now + opt_.sweepInterval;
  stats_.devicesSwept.fetch_add(store_.sweepExpiredDevices(wallMs()), std::memory_order_relaxed);
  stats_.retentionRemoved.fetch_add(store_.enforceRetention(), std::memory_order_relaxed);
}

void CaptureWriter::run() {
  std::chrono::microseconds idle = opt_.idleMin;
  while (true) {
    bool stopping = !running_.load();
    std::size_t n = drainOnce();
    std::deque<std::packaged_task<std::string(store::Store&)>> jobs;
    {
      std::lock_guard lock(jobsMutex_);
      jobs.swap(jobs_);
    }
    if (!jobs.empty() || (stopping && n == 0)) {  // jobs read what the store holds: the latest refreshes too
      flushRefreshes(0, true);
      writeBatch();
    }
    for (auto& j : jobs) j(store_);
    // A job may have changed what the store holds (erase, provisioning): write every binding's next REGISTER.
    if (!jobs.empty()) bindings_.clear();
    housekeeping(false);
    if (stopping && n == 0) break;
    if (stopping || !jobs.empty()) continue;
    if (n == 0) {
      std::this_thread::sleep_for(idle);
      idle = std::min(idle * 2, opt_.idleMax);
      continue;
    }
    idle = opt_.idleMin;
    if (n >= opt_.maxBatch) {
      std::this_thread::yield();  // a worker woken meanwhile runs first
      continue;
    }
    std::this_thread::sleep_for(opt_.linger);
  }
  store_.flush();
}

}  // namespace sipedge::capture
