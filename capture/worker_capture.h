// One worker's share of capture: its trackers and the queue it feeds. Owned by the worker's thread; only the
// queue's consumer side and the counters are touched by the writer thread.
#pragma once

#include <atomic>
#include <memory>

#include "cdr_tracker.h"
#include "events.h"
#include "queue.h"
#include "registration_tracker.h"

namespace sipedge::capture {

class WorkerCapture {
 public:
  WorkerCapture(unsigned worker, std::size_t queueSize)
      : queue(queueSize), registrations(65536, 32000), calls(worker) {}

  // Hands an event to the writer; a full queue drops it and counts (forwarding never waits).
  void emit(CaptureEvent&& e) {
    if (!queue.push(std::move(e)))
      bump(drops);
    else
      bump(queued);
  }
  // The worker's dialog table calls this for every dialog that ends: its CDR, if it has one, goes to the writer.
  void dialogEnded(const proxy::Dialog& d, proxy::DialogEnd why, Millis now) {
    if (auto cdr = calls.close(d, why, now)) emit(CdrEvent{std::move(*cdr)});
  }

  SpscQueue<CaptureEvent> queue;
  RegistrationTracker registrations;
  CdrTracker calls;
  std::atomic<std::uint64_t> queued{0}, drops{0}, untracked{0};

  static void bump(std::atomic<std::uint64_t>& c) {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

}  // namespace sipedge::capture
