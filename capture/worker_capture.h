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
  WorkerCapture(unsigned worker, std::size_t queueSize, Millis maxCallDuration, Millis setupTimeout)
      : queue(queueSize), registrations(65536, 32000), calls(worker, maxCallDuration, setupTimeout, 1 << 20) {}

  // Hands an event to the writer; a full queue drops it and counts (forwarding never waits).
  void emit(CaptureEvent&& e) {
    if (!queue.push(std::move(e)))
      bump(drops);
    else
      bump(queued);
  }
  void emitClosed(std::vector<CdrRecord>& closed) {
    for (auto& c : closed) emit(CdrEvent{std::move(c)});
    closed.clear();
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
