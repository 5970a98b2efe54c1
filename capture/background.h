// Capture's own threads (writer, resolvers) run at a lower priority than the workers: on a core they share,
// the scheduler gives a busy worker about nine tenths of it, and the writer's short slices (CaptureWriter::
// Options::maxBatch, with a yield between them) bound how long a worker that wakes up with a packet waits.
// Capture still gets every cycle the workers leave, and its bounded queues count what they drop when that is
// not enough.
#pragma once

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

namespace sipedge::capture {

inline constexpr int kBackgroundNice = 10;

// Names the calling thread (top -H, perf, the benchmarks) and lowers its priority.
inline void becomeBackgroundThread(const char* name) {
  ::pthread_setname_np(::pthread_self(), name);
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kBackgroundNice);  // per thread on Linux
}

}  // namespace sipedge::capture
