#include "writer.h"

#include "mac.h"

#include <chrono>

namespace sipedge::capture {

namespace {

Millis wallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

CaptureWriter::~CaptureWriter() { stop(); }

void CaptureWriter::start() {
  running_ = true;
  nextSweep_ = std::chrono::steady_clock::now() + opt_.sweepInterval;
  thread_ = std::thread([this] { run(); });
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

void CaptureWriter::apply(RegistrationEvent& e, store::Batch& b) {
  store::IpLogEntry ip;
  ip.tenant = e.tenant;
  ip.user = e.user;
  ip.ip = e.srcIp;
  ip.port = e.srcPort;
  ip.transport = e.transport;
  ip.firstSeen = ip.lastSeen = e.time;
  ip.count = 1;
  ip.event = e.expires > 0 ? "register" : "unregister";
  b.upsertIpLog(ip);

  if (e.wildcard) {  // every binding of the AOR is gone
    for (auto& d : store_.devices(e.tenant, e.user)) {
      if (!d.mac.empty() && store_.isProvisioned(d.mac)) continue;
      b.deleteDevice(d.tenant, d.user, d.instance);
      firstSeen_.erase(d.tenant + '\x1f' + d.user + '\x1f' + d.instance);
    }
    return;
  }
  std::string instance = e.instance.empty() ? e.contact : e.instance;
  std::string mac = deviceMac(e);
  std::string key = e.tenant + '\x1f' + e.user + '\x1f' + instance;
  if (e.expires == 0) {
    if (mac.empty() || !store_.isProvisioned(mac)) {
      b.deleteDevice(e.tenant, e.user, instance);
      firstSeen_.erase(key);
    }
    return;
  }
  store::DeviceRecord d;
  d.tenant = e.tenant;
  d.user = e.user;
  d.instance = instance;
  d.userAgent = e.userAgent;
  DeviceInfo info = devices_.parse(e.userAgent);
  d.brand = info.brand;
  d.model = info.model;
  d.firmware = info.firmware;
  d.mac = mac;
  d.ip = e.srcIp;
  d.port = e.srcPort;
  d.transport = e.transport;
  auto [it, fresh] = firstSeen_.try_emplace(key, e.time);
  if (fresh && firstSeen_.size() > 1'000'000) firstSeen_.clear();  // bound memory; first-seen then restarts
  d.firstSeen = it->second;
  d.lastSeen = e.time;
  d.expiresAt = e.time + e.expires * 1000;
  b.putDevice(d);
}

std::size_t CaptureWriter::drainOnce() {
  store::Batch batch;
  std::size_t n = 0;
  for (auto* src : sources_) {
    while (n < opt_.maxBatch) {
      auto ev = src->queue.pop();
      if (!ev) break;
      ++n;
      if (auto* r = std::get_if<RegistrationEvent>(&*ev)) apply(*r, batch);
      else if (auto* c = std::get_if<CdrEvent>(&*ev)) batch.putCdr(c->cdr);
    }
  }
  if (!batch.empty()) {
    std::string err;
    if (!store_.write(batch, &err)) stats_.writeErrors.fetch_add(1, std::memory_order_relaxed);
    stats_.batches.fetch_add(1, std::memory_order_relaxed);
  }
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
  while (true) {
    bool stopping = !running_.load();
    std::size_t n = drainOnce();
    std::deque<std::packaged_task<std::string(store::Store&)>> jobs;
    {
      std::lock_guard lock(jobsMutex_);
      jobs.swap(jobs_);
    }
    for (auto& j : jobs) j(store_);
    housekeeping(false);
    if (stopping && n == 0) break;
    if (n == 0 && jobs.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  store_.flush();
}

}  // namespace sipedge::capture
