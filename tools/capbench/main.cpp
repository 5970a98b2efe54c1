// capbench: how many capture events per second the writer turns into store rows. Feeds a bounded number of
// synthetic REGISTER events (distinct users, refreshes, unregisters) and CDRs through the real CaptureWriter
// into a real store in a temporary directory, and reports records/s and CPU-seconds. Not a test.
//
// Event times start at the wall clock of the run: older times would make the store's retention filter drop the
// IP-log and CDR rows on every flush, which measures a store that forgets, not the one sipedge runs. CPU is
// reported for the whole process and for the store side alone (process minus this producer thread), since
// building the synthetic events is not capture's cost.
#include <sodium.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "capture/device_parser.h"
#include "capture/worker_capture.h"
#include "capture/writer.h"
#include "store/store.h"

using namespace sipedge;

namespace {

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// CPU-seconds of RocksDB's own background threads (flush, compaction): named "rocksdb:*" in /proc.
double rocksdbThreadsCpuSeconds() {
  double total = 0;
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::error_code ec;
  for (const auto& t : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream f(t.path() / "stat");
    std::string line;
    if (!std::getline(f, line)) continue;
    auto open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    if (line.compare(open + 1, 8, "rocksdb:") != 0) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
      if (i == 14) utime = std::stoull(field);
      if (i == 15) stime = std::stoull(field);
    }
    total += static_cast<double>(utime + stime) / tick;
  }
  return total;
}

long long wallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  long events = argc > 1 ? std::atol(argv[1]) : 200000;
  long users = argc > 2 ? std::atol(argv[2]) : 20000;
  long refreshSeconds = argc > 3 ? std::atol(argv[3]) : 0;  // capture.refresh_write_interval; 0 writes every one
  if (events <= 0 || events > 50'000'000 || users <= 0 || refreshSeconds < 0) {
    std::fprintf(stderr, "usage: capbench [EVENTS (<= 5e7)] [USERS] [REFRESH_WRITE_INTERVAL_S (default 0)]\n");
    return 2;
  }
  if (sodium_init() < 0) return 1;
  auto dir = std::filesystem::temp_directory_path() / ("capbench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    store::StoreOptions o;
    o.path = (dir / "store").string();
    o.keyFile = (dir / "store.key").string();
    auto db = store::Store::open(o);
    auto parser = capture::DeviceParser::fromText(capture::builtinDeviceTable(), "built-in");
    capture::WorkerCapture cap(0, 1 << 16);
    capture::CaptureWriter::Options wo;
    wo.sweepInterval = std::chrono::hours(1);
    wo.refreshWriteInterval = std::chrono::seconds(refreshSeconds);
    capture::CaptureWriter writer(*db, parser, {&cap}, wo);
    writer.start();
    const char* agents[] = {"Yealink SIP-T46S 66.86.0.15", "Zoiper rv2.10.20.2", "Grandstream GXP2170 1.0.11.23",
                            "PolycomVVX-VVX_411-UA/6.4.3.5018"};
    const long long base = wallMs();
    auto t0 = std::chrono::steady_clock::now();
    double c0 = cpuSeconds(), p0 = threadCpuSeconds(), r0 = rocksdbThreadsCpuSeconds();
    long pushed = 0, spins = 0;
    for (long i = 0; i < events; ++i) {
      long u = i % users;
      capture::CaptureEvent ev;
      if (i % 50 == 49) {  // one call in fifty events
        store::CdrRecord c;
        c.uniqueId = "cb-" + std::to_string(i);
        c.tenant = "example.com";
        c.user = "u" + std::to_string(u);
        c.source = c.user;
        c.destination = "+4930" + std::to_string(i);
        c.start = base + i;
        c.answer = c.start + 1000;
        c.end = c.start + 61000;
        c.billsec = 60;
        c.disposition = store::Disposition::Answered;
        ev = capture::CdrEvent{c};
      } else {
        capture::RegistrationEvent r;
        r.time = base + i;
        r.tenant = "example.com";
        r.user = "u" + std::to_string(u);
        r.contact = "sip:" + r.user + "@10.0." + std::to_string(u % 250) + ".9:5060";
        r.userAgent = agents[u % 4];
        r.srcIp = "192.0.2." + std::to_string(u % 250);
        r.srcPort = static_cast<std::uint16_t>(5060 + u % 1000);
        r.transport = "udp";
        r.expires = (i % 97 == 0) ? 0 : 3600;
        ev = std::move(r);
      }
      while (!cap.queue.push(std::move(ev))) {  // the benchmark waits; sipedge would drop and count
        ++spins;
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
      ++pushed;
    }
    while (cap.queue.sizeApprox() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    writer.stop();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double cpu = cpuSeconds() - c0;
    double storeCpu = cpu - (threadCpuSeconds() - p0);
    double bgCpu = rocksdbThreadsCpuSeconds() - r0;  // still running: the store is open until the end of scope
    std::printf(
        "capbench: %ld events (%ld users, refresh_write_interval %lds) in %.2f s: %.0f records/s, %.2f CPU-s (%.1f us "
        "CPU per record), "
        "store side %.1f us CPU per record (writer thread %.1f, RocksDB background %.1f), %llu batches, %llu write "
        "errors, producer waits %ld\n",
        pushed, users, refreshSeconds, secs, static_cast<double>(pushed) / secs, cpu,
        cpu * 1e6 / static_cast<double>(pushed), storeCpu * 1e6 / static_cast<double>(pushed),
        (storeCpu - bgCpu) * 1e6 / static_cast<double>(pushed), bgCpu * 1e6 / static_cast<double>(pushed),
        static_cast<unsigned long long>(writer.stats().batches.load()),
        static_cast<unsigned long long>(writer.stats().writeErrors.load()), spins);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
