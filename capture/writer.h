// The capture writer: the one thread that drains every worker's capture queue into the store, in WriteBatches,
// and runs what must happen on the single writer (device expiry sweeps, retention passes, management
// commands such as erase). Nothing on the forwarding path ever waits for it.
#pragma once

#include "device_parser.h"
#include "store/store.h"
#include "worker_capture.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace sipedge::capture {

class CaptureWriter {
 public:
  struct Options {
    std::chrono::milliseconds sweepInterval{10000};
    std::size_t maxBatch = 4096;  // events per WriteBatch
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
  void apply(RegistrationEvent& e, store::Batch& b);
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
  // first-seen times of devices the writer already wrote, so a re-REGISTER keeps its first-seen
  std::unordered_map<std::string, Millis> firstSeen_;
};

}  // namespace sipedge::capture
