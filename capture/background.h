// Capture's own threads (writer, resolvers) run at a lower priority than the workers: on a core they share,
// a worker that wakes up with a packet preempts them at once instead of waiting out their time slice, so a
// batch being written never adds to forwarding latency. Capture still gets the cycles the workers leave (about
// a tenth of a busy core at nice 10), and its bounded queues count what they drop when that is not enough.
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
