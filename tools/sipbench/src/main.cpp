// sipbench: SIP load generator (UAC) and PBX stand-in (UAS) for benchmarking sipedge.
// main() parses options, starts the workers, waits for them and reports; all SIP work is in the workers.
#include <arpa/inet.h>
#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "clock.hpp"
#include "options.hpp"
#include "stats.hpp"
#include "uac.hpp"
#include "uas.hpp"

namespace {

using namespace sipbench;

// 1 after the first SIGINT/SIGTERM (finish gracefully), 2 after the second (abort).
std::atomic<int> g_stop{0};

void onSignal(int) {
  const int cur = g_stop.load(std::memory_order_relaxed);
  g_stop.store(cur >= 1 ? 2 : 1, std::memory_order_relaxed);
}

void installSignals() {
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void cpuTimes(double& user_s, double& sys_s) {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  user_s = static_cast<double>(ru.ru_utime.tv_sec) + static_cast<double>(ru.ru_utime.tv_usec) / 1e6;
  sys_s = static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) / 1e6;
}

bool writeFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  return static_cast<bool>(f);
}

int runUac(const Options& o) {
  const int64_t start = nowUs();
  const double limit_s = o.duration_s > 0 ? o.duration_s : kMaxDurationS;
  const int64_t issue_end = start + static_cast<int64_t>(limit_s * 1e6);
  // Burst tolerance: --burst-ms worth of tokens (10 ms by default), at least one per worker, so the pacing stays
  // smooth while a worker that slept a little can catch up.
  const double burst = std::max(o.rate * o.burst_ms / 1000, static_cast<double>(o.workers));
  RunControl ctl(o.rate, burst, o.count ? o.count : UINT64_MAX, start, issue_end);
  ctl.stop = &g_stop;
  ctl.run_id = std::random_device{}();

  const uint32_t per_worker = (o.max_inflight + o.workers - 1) / o.workers;
  std::vector<std::unique_ptr<UacWorker>> workers;
  for (uint32_t i = 0; i < o.workers; ++i) {
    workers.push_back(std::make_unique<UacWorker>(o, i, ctl, per_worker));
    if (auto err = workers.back()->open(); !err.empty()) {
      std::cerr << "sipbench: " << err << "\n";
      return 2;
    }
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  for (auto& t : threads) t.join();

  UacStats total;
  for (auto& w : workers) total.merge(w->stats());
  UacRunInfo info;
  info.scenario = std::string(scenarioName(o.scenario));
  info.target = o.target;
  info.target_rate = o.rate;
  info.count = o.count;
  info.duration_s = o.duration_s;
  info.workers = o.workers;
  info.max_inflight = o.max_inflight;
  info.hold_ms = o.hold_ms;
  info.start_us = start;
  info.end_us = nowUs();
  info.hard_cap_hit = o.duration_s == 0 && o.count && total.attempted < o.count && g_stop.load() == 0;
  cpuTimes(info.cpu_user_s, info.cpu_sys_s);

  if (!o.quiet) std::cout << renderText(info, total) << std::flush;
  if (!o.json_path.empty() && !writeFile(o.json_path, renderJson(info, total))) {
    std::cerr << "sipbench: cannot write " << o.json_path << "\n";
    return 2;
  }
  if (total.attempted == 0) return 1;
  const double ratio = static_cast<double>(total.failed) / static_cast<double>(total.attempted);
  return (total.failed == 0 || ratio <= o.max_failure_ratio) ? 0 : 1;
}

int runUas(const Options& o) {
  sockaddr_in addr{};
  if (!parseHostPort(o.listen, addr)) {
    std::cerr << "sipbench: --listen: expected numeric IPv4 HOST:PORT, got '" << o.listen << "'\n";
    return 2;
  }
  const int64_t start = nowUs();
  const int64_t end = o.duration_s > 0 ? start + static_cast<int64_t>(o.duration_s * 1e6) : 0;
  std::vector<std::unique_ptr<UasWorker>> workers;
  for (uint32_t i = 0; i < o.workers; ++i) {
    workers.push_back(std::make_unique<UasWorker>(o, g_stop, end));
    // Port 0: the first socket picks the port, the others join it through SO_REUSEPORT.
    if (auto err = workers.back()->open(addr); !err.empty()) {
      std::cerr << "sipbench: " << err << "\n";
      return 2;
    }
    addr.sin_port = workers.front()->local().sin_port;
  }
  std::cout << "listening udp " << o.listen.substr(0, o.listen.rfind(':')) << " " << ntohs(addr.sin_port) << std::endl;

  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  for (auto& t : threads) t.join();

  UasStats total;
  for (auto& w : workers) total.merge(w->stats());
  const double elapsed = static_cast<double>(nowUs() - start) / 1e6;
  if (!o.quiet) std::cout << renderUasText(total, elapsed) << std::flush;
  if (!o.json_path.empty() && !writeFile(o.json_path, renderUasJson(total, elapsed))) {
    std::cerr << "sipbench: cannot write " << o.json_path << "\n";
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  try {
    opts = parseOptions(argc, argv);
  } catch (const UsageError& e) {
    if (e.what()[0] != '\0') std::cerr << "sipbench: " << e.what() << "\n\n";
    std::cerr << usageText();
    return 2;
  }
  installSignals();
  return opts.role == Role::Uac ? runUac(opts) : runUas(opts);
}
