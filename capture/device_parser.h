// Turns a SIP User-Agent (or Server) string into brand, model and firmware using a data table
// (conf/devices.tsv), not code. Runs on the capture writer thread, never on the forwarding path; results for
// repeated strings come from a bounded LRU cache.
//
// Table format: UTF-8 text, one rule per line, fields separated by one TAB, '#' at the start of a line (after
// optional blanks) begins a comment line, blank lines are ignored. The first other line is the header and must
// read exactly "brand<TAB>pattern<TAB>model<TAB>firmware". Each rule:
//   brand     the brand to report, non-empty text;
//   pattern   a std::regex ECMAScript expression, searched in the agent string ('^' anchors it at the start);
//             a leading "(?i)" makes it case-insensitive. Rules are skipped without running the regex when
//             the literal text after '^' (or at the start of an unanchored pattern, or of a leading "^(?=.*"
//             look-ahead) is absent, so patterns that begin with literal text cost almost nothing;
//   model     a template: literal text with $1..$9 replaced by that capture group ("" if it did not take part),
//   firmware  "$$" for a literal '$'; a lone "-" means empty. Results are trimmed and inner blanks collapsed.
// Rules are tried in file order; the first that matches wins. No match: brand "unknown", model and firmware
// "" (the caller keeps the raw string).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sipedge::capture {

struct DeviceInfo {
  std::string brand = "unknown";
  std::string model;
  std::string firmware;
  unsigned ruleLine = 0;  // table line of the rule that matched, 0 when unknown; for diagnostics, not stored

  bool known() const { return ruleLine != 0; }
};

// A table that cannot be loaded; what() reads "<file>:<line>: <problem>" (or "<file>: <problem>").
class DeviceTableError : public std::runtime_error {
 public:
  DeviceTableError(const std::string& what, unsigned line) : std::runtime_error(what), line_(line) {}
  unsigned line() const { return line_; }  // 0 when the problem is not on one line

 private:
  unsigned line_;
};

class DeviceParser {
 public:
  static constexpr std::size_t kDefaultCacheEntries = 4096;
  // Agents are matched on their first 256 bytes (after trimming blanks): bounds regex time and stack depth
  // for hostile input; real agents are far shorter.
  static constexpr std::size_t kMaxAgentBytes = 256;

  struct Stats {
    std::uint64_t hits = 0;         // parse() answered from the cache
    std::uint64_t misses = 0;       // parse() ran the rules
    std::uint64_t evictions = 0;    // least-recently-used entries dropped to stay within the cap
    std::uint64_t matchErrors = 0;  // a rule threw while matching (regex complexity/stack); treated as no match
    std::size_t entries = 0;        // currently cached
  };

  // Start-up only: both throw DeviceTableError naming the file and line of the first problem.
  static DeviceParser loadFile(const std::string& path, std::size_t cacheEntries = kDefaultCacheEntries);
  static DeviceParser fromText(std::string_view text, std::string_view name,
                               std::size_t cacheEntries = kDefaultCacheEntries);

  DeviceParser(DeviceParser&&) noexcept;
  DeviceParser& operator=(DeviceParser&&) noexcept;
  ~DeviceParser();

  // Never throws (beyond std::bad_alloc). Safe to call from several threads; the cache is locked briefly and
  // the rules run outside the lock.
  DeviceInfo parse(std::string_view userAgent) const;

  std::size_t ruleCount() const;
  std::size_t cacheCapacity() const;  // 0 disables caching
  Stats stats() const;

 private:
  struct Impl;
  explicit DeviceParser(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// conf/devices.tsv as built into the binary (generated at build time).
std::string_view builtinDeviceTable();

}  // namespace sipedge::capture
