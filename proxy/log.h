// Leveled logging to stderr. Debug output that may carry numbers goes through maskNumbers (privacy P6).
#pragma once

#include <cstdarg>
#include <string>
#include <string_view>

#include "conf/config.h"

namespace sipedge::proxy::log {

void setLevel(conf::LogLevel l, bool clearNumbers);
bool enabled(conf::LogLevel l);
void write(conf::LogLevel l, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Replaces the digits of SIP/tel URI user parts and quoted display names with '*' unless clear text is allowed.
std::string maskNumbers(std::string_view text);

}  // namespace sipedge::proxy::log

#define SE_LOG(level, ...)                                                                       \
  do {                                                                                           \
    if (::sipedge::proxy::log::enabled(level)) ::sipedge::proxy::log::write(level, __VA_ARGS__); \
  } while (0)
#define SE_ERROR(...) SE_LOG(::sipedge::conf::LogLevel::Error, __VA_ARGS__)
#define SE_WARN(...) SE_LOG(::sipedge::conf::LogLevel::Warn, __VA_ARGS__)
#define SE_INFO(...) SE_LOG(::sipedge::conf::LogLevel::Info, __VA_ARGS__)
#define SE_DEBUG(...) SE_LOG(::sipedge::conf::LogLevel::Debug, __VA_ARGS__)
