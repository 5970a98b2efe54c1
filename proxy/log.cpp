#include "log.h"

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace sipedge::proxy::log {

namespace {
std::atomic<int> gLevel{static_cast<int>(conf::LogLevel::Info)};
std::atomic<bool> gClear{false};
}  // namespace

void setLevel(conf::LogLevel l, bool clearNumbers) {
  gLevel = static_cast<int>(l);
  gClear = clearNumbers;
}

bool enabled(conf::LogLevel l) {
  return static_cast<int>(l) <= gLevel.load(std::memory_order_relaxed);
}

void write(conf::LogLevel l, const char* fmt, ...) {
  static const char* names[] = {"error", "warn", "info", "debug"};
  char line[8192];
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s ", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms), names[static_cast<int>(l)]);
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(line + n, sizeof line - static_cast<std::size_t>(n), fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "%s\n", line);
}

std::string maskNumbers(std::string_view text) {
  std::string out(text);
  if (gClear.load(std::memory_order_relaxed)) return out;
  auto maskDigits = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to && i < out.size(); ++i)
      if (std::isdigit(static_cast<unsigned char>(out[i]))) out[i] = '*';
  };
  for (std::string_view scheme : {"sip:", "sips:", "tel:"}) {
    for (std::size_t p = out.find(scheme); p != std::string::npos; p = out.find(scheme, p + 1)) {
      std::size_t start = p + scheme.size();
      std::size_t end = out.find_first_of("@>;? \r\n", start);
      if (end == std::string::npos) end = out.size();
      if (scheme == "tel:" || (end < out.size() && out[end] == '@')) maskDigits(start, end);
    }
  }
  for (std::size_t q = out.find('"'); q != std::string::npos;) {
    std::size_t e = out.find('"', q + 1);
    if (e == std::string::npos) break;
    maskDigits(q + 1, e);
    q = out.find('"', e + 1);
  }
  return out;
}

}  // namespace sipedge::proxy::log
