// The capture writer: the one thread that drains every worker's capture queue into the store, in WriteBatches,
// and runs what must happen on the single writer (device expiry sweeps, retention passes, management
// commands such as erase). Nothing on the forwarding path ever waits for it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <queue>
#include <thread>
#include <unordered_map>
#include <vector>

#include "device_parser.h"
#include "enricher.h"
#include "keyed_hash.h"
#include "store/store.h"
#include "worker_capture.h"

namespace sipedge::capture {

class CaptureWriter {
 public:
  struct Options {
    std::chrono::milliseconds sweepInterval{10000};
    // Events per WriteBatch: the writer works in slices this small, and lets a worker that woke up meanwhile run
    // between two of them (sched_yield), so on a core it shares with a worker a slice is the longest a packet
    // waits for capture (about half a millisecond of CDRs or first registrations; the scheduler would otherwise
    // let a running writer finish its time slice first).
    std::size_t maxBatch = 32;
    Enricher* enricher = nullptr;  // borrowed, may be null (no region/ISP/hostname); must outlive the writer
    // Idle: the writer polls the queues after sleeping idleMin, doubling up to idleMax while they stay empty, so
    // a burst after a pause waits about idleMin, and an idle writer wakes only 1/idleMax times a second.
    std::chrono::microseconds idleMin{1000};
    std::chrono::microseconds idleMax{40000};
    // A drain that found fewer than maxBatch events sleeps `linger` before the next one, so a steady stream goes
    // in batches rather than one write (and one WAL record) per event, and the writer wakes about 25 times a
    // second rather than thousands: on a core shared with a worker every wake-up is a context switch the worker
    // pays for, and every batch a WAL write(2). Bounds the time an event waits in its queue (the queues hold
    // 65536 by default). A full slice means more are waiting: the next one follows at once.
    std::chrono::microseconds linger{40000};
    // Refresh coalescing. A REGISTER that only refreshes a binding the store already holds unchanged (same
    // contact, instance, User-Agent, MAC hints, source address, port and transport; expiry not earlier; the stored
    // registration still live) changes nothing but last-seen, the IP-log count and the device expiry. Those are
    // kept here and written at most `refreshWriteInterval` after the first unwritten refresh, and always before
    // the stored expiry passes, before any job (so management reads and erasure see them), before an unregister
    // of the same binding and at stop(). A crash loses at most that interval of such refreshes; every new
    // registration, new IP, changed device and unregister is written at once, and so is the first REGISTER of
    // every binding after a start or after a job. 0 writes every refresh.
    std::chrono::milliseconds refreshWriteInterval{0};
    std::size_t maxBindings = 1 << 20;  // bindings remembered for coalescing; beyond it refreshes are written
  };
  struct Stats {
    std::atomic<std::uint64_t> events{0}, batches{0}, writeErrors{0}, devicesSwept{0}, retentionRemoved{0};
    std::atomic<std::uint64_t> refreshesCoalesced{0};  // refreshes folded into a later write
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
  // Adds `e`'s rows to batch_ (moving what it needs out of `e`), or keeps it as a pending refresh; a wildcard
  // unregister writes batch_ first.
  void apply(RegistrationEvent& e);
  // The rows of `e` into batch_; `count` REGISTERs (a coalesced refresh counts every one it stands for).
  void addRows(RegistrationEvent& e, std::uint32_t count);
  // Pending refreshes into batch_: those due by `now` (all of them when `all`).
  void flushRefreshes(store::Millis now, bool all);
  struct Binding;
  void flushRefresh(Binding& b);
  void forgetUser(std::uint64_t userHash);
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

  // Refresh coalescing (Options::refreshWriteInterval). Keyed by a hash of (tenant, user, instance or contact).
  struct PendingRefresh {
    RegistrationEvent latest;  // the first refresh, with the latest one's time and expiry
    std::uint32_t count = 0;   // refreshes it stands for
    store::Millis flushBy = 0;
  };
  struct Binding {
    std::uint64_t userHash = 0;               // of (tenant, user): a wildcard unregister finds the user's bindings
    std::uint64_t fingerprint = 0;            // of everything a refresh must not change; 0 = unknown, write in full
    store::Millis storedExpiresAt = 0;        // the device expiry the store holds
    std::unique_ptr<PendingRefresh> pending;  // refreshes not written yet
  };
  std::unordered_map<std::uint64_t, Binding> bindings_;
  // (flushBy, key), earliest first; entries whose refresh was written meanwhile are skipped when popped.
  std::priority_queue<std::pair<store::Millis, std::uint64_t>, std::vector<std::pair<store::Millis, std::uint64_t>>,
                      std::greater<>>
      refreshDue_;
  std::string hashScratch_;
  KeyedHash hash_;  // binding keys, user hashes and fingerprints
};

}  // namespace sipedge::capture
