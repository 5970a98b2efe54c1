// The capture writer: the one thread that drains every worker's capture queue into the store, in WriteBatches,
// and runs what must happen on the single writer (device expiry sweeps, retention passes, management
// commands such as erase). Nothing on the forwarding path ever waits for it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "device_parser.h"
#include "enricher.h"
#include "store/store.h"
#include "worker_capture.h"

namespace sipedge::capture {

class CaptureWriter {
 public:
  struct Options {
    std::chrono::milliseconds sweepInterval{10000};
    std::size_t maxBatch = 4096;  // events per WriteBatch
    Enricher* enricher = nullptr;  // borrowed, may be null (no region/ISP/hostname); must outlive the writer
    // Idle: the writer polls the queues after sleeping idleMin, doubling up to idleMax while they stay empty, so
    // a burst after a pause waits about idleMin, and an idle writer wakes only 1/idleMax times a second.
    std::chrono::microseconds idleMin{100};
    std::chrono::microseconds idleMax{2000};
    // A drain that found fewer than lingerBelow events sleeps `linger` before the next one, so a steady trickle
    // goes in batches rather than one write (and one WAL record) per event. Bounds the added latency.
    std::size_t lingerBelow = 64;
    std::chrono::microseconds linger{500};
  };
  struct Stats {
    std::atomic<std::uint64_t> events{0}, batches{0}, writeErrors{0}, devicesSwept{0}, retentionRemoved{0};
  };

  // Borrows everything; all must outlive the writer. `sources` are the workers' captures.
  CaptureWriter(store::Store& store, const DeviceParser& devices, std::vector<WorkerCapture*> sources, Options o);
  ~CaptureWriter();

  void start();
  // Drains every queue, writes what is left, flushes the store, joins the thread. Call after the workers stopped.
  void stop();

  // Runs `job` on the writer thread (the store's single writer) and returns its result.
  std::future<std::string> submit(std::function<std::string(store::Store&)> job);

  const Stats& stats() const { return stats_; }

 private:
  void run();
  std::size_t drainOnce();
  // Adds `e`'s rows to batch_ (moving what it needs out of `e`); a wildcard unregister writes batch_ first.
  void apply(RegistrationEvent& e);
  void writeBatch();
  void housekeeping(bool force);

  store::Store& store_;
  const DeviceParser& devices_;
  std::vector<WorkerCapture*> sources_;
  Options opt_;
  Stats stats_;
  std::atomic<bool> running_{false};
  std::thread thread_;
  std::mutex jobsMutex_;
  std::deque<std::packaged_task<std::string(store::Store&)>> jobs_;
  std::chrono::steady_clock::time_point nextSweep_;
  // Reused for every drain (its ops keep their capacity), so a batch does not allocate its op array each time.
  // A device's first-seen is kept by the store (it reads the stored row, through its own cache that erasure and
  // expiry invalidate), not here: a writer-side copy would outlive an erased or expired device.
  store::Batch batch_;
  // IP-log rows written while their IP's reverse lookup was outstanding: ip -> (tenant, user) pairs to enrich
  // when the name arrives.
  std::unordered_map<std::string, std::vector<std::pair<std::string, std::string>>> awaitingHostname_;
};

}  // namespace sipedge::capture
