// DeviceParser: the table loader, the rule matcher and its LRU cache. Table format in device_parser.h.
#include "capture/device_parser.h"

#include <algorithm>
#include <fstream>
#include <list>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <unordered_map>
#include <vector>

namespace sipedge::capture {
namespace {

constexpr std::string_view kHeader = "brand\tpattern\tmodel\tfirmware";
constexpr std::string_view kNoCase = "(?i)";

bool isBlank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && isBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && isBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Trimmed, with every run of blanks (and control characters) turned into one space.
std::string tidy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool pendingSpace = false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == ' ') {
      pendingSpace = !out.empty();
      continue;
    }
    if (pendingSpace) out.push_back(' ');
    pendingSpace = false;
    out.push_back(c);
  }
  return out;
}

// "$1 text $2": literal pieces and capture-group references, checked against the pattern at load time.
class Template {
 public:
  // Returns an error message, or "" when `spec` is valid for a pattern with `groups` capture groups.
  std::string parse(std::string_view spec, unsigned groups) {
    if (spec == "-") return {};
    std::string literal;
    for (std::size_t i = 0; i < spec.size(); ++i) {
      if (spec[i] != '$') {
        literal.push_back(spec[i]);
        continue;
      }
      if (i + 1 >= spec.size()) return "'$' at the end; write '$$' for a literal dollar";
      const char next = spec[++i];
      if (next == '$') {
        literal.push_back('$');
        continue;
      }
      if (next < '1' || next > '9') return std::string("'$") + next + "' is not $1..$9 or $$";
      const unsigned group = static_cast<unsigned>(next - '0');
      if (group > groups) {
        return "refers to $" + std::to_string(group) + " but the pattern has " + std::to_string(groups) +
               " capture group" + (groups == 1 ? "" : "s");
      }
      if (!literal.empty()) pieces_.push_back({std::move(literal), 0});
      literal.clear();
      pieces_.push_back({{}, group});
    }
    if (!literal.empty()) pieces_.push_back({std::move(literal), 0});
    return {};
  }

  std::string expand(const std::cmatch& m) const {
    std::string out;
    for (const auto& p : pieces_) {
      if (p.group == 0) {
        out += p.text;
      } else if (m[p.group].matched) {
        out.append(m[p.group].first, m[p.group].second);
      }
    }
    return tidy(out);
  }

 private:
  struct Piece {
    std::string text;
    unsigned group;  // 0: literal text
  };
  std::vector<Piece> pieces_;
};

struct Rule {
  unsigned line = 0;
  std::string brand;
  std::regex re;
  bool anchored = false;  // every match starts at the beginning: search there only
  bool icase = false;
  std::string prefix;  // literal text every match starts with    } cheap rejects before
  std::string needle;  // literal text every match contains        } the regex runs
  Template model, firmware;

  bool same(char a, char b) const {
    if (icase) {
      if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
      if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    }
    return a == b;
  }
  bool mayMatch(std::string_view agent) const {
    if (agent.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i)
      if (!same(agent[i], prefix[i])) return false;
    if (needle.empty()) return true;
    auto same2 = [this](char a, char b) { return same(a, b); };
    return std::search(agent.begin(), agent.end(), needle.begin(), needle.end(), same2) != agent.end();
  }
};

// Index just past the group opened at `open` (a '('), skipping escapes and classes; npos if unbalanced.
// `alternation` is set when a '|' occurs at the group's own depth (at depth 0 when `open` is npos: whole pattern).
std::size_t scanGroup(std::string_view p, std::size_t open, bool& alternation) {
  int depth = 0;
  for (std::size_t i = open == std::string_view::npos ? 0 : open + 1; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\') {
      ++i;
    } else if (c == '[') {  // skip the class; ']' right after '[' or '[^' is a literal
      std::size_t j = i + 1;
      if (j < p.size() && p[j] == '^') ++j;
      if (j < p.size() && p[j] == ']') ++j;
      while (j < p.size() && p[j] != ']') j += p[j] == '\\' ? 2 : 1;
      i = j;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (depth == 0) return i + 1;
      --depth;
    } else if (c == '|' && depth == 0) {
      alternation = true;
    }
  }
  return open == std::string_view::npos ? p.size() : std::string_view::npos;
}

// The literal characters at p[from...] that every match must contain in that order (a following '?', '*' or
// '{' makes the last one optional, so it is dropped). Stops before regex syntax and non-ASCII bytes (icase
// folding beyond ASCII is the regex's business).
std::string literalRun(std::string_view p, std::size_t from) {
  static constexpr std::string_view kMeta = "\\^$.|?*+()[]{}";
  std::size_t end = from;
  while (end < p.size() && kMeta.find(p[end]) == std::string_view::npos && static_cast<unsigned char>(p[end]) < 0x80)
    ++end;
  std::string run(p.substr(from, end - from));
  if (!run.empty() && end < p.size() && (p[end] == '?' || p[end] == '*' || p[end] == '{')) run.pop_back();
  return run;
}

// Shortcuts taken before running a rule's regex; each only when certain, so they never change the meaning:
//  - anchored: starts with '^' and has no top-level '|' (which would unanchor the other branches);
//  - prefix:   for anchored rules, the literal text right after '^';
//  - needle:   literal text that must occur somewhere: the start of an unanchored pattern ("\bLinphoneSDK/…"),
//              or the start of a leading "^(?=.*…)" look-ahead without alternatives.
void analyse(std::string_view p, Rule& rule) {
  bool topAlternation = false;
  scanGroup(p, std::string_view::npos, topAlternation);
  if (topAlternation || p.empty()) return;
  auto skipWordBoundary = [&p](std::size_t i) { return p.substr(i, 2) == "\\b" ? i + 2 : i; };
  if (p.front() != '^') {
    rule.needle = literalRun(p, skipWordBoundary(0));
    return;
  }
  rule.anchored = true;
  rule.prefix = literalRun(p, 1);
  if (p.substr(1, 5) == "(?=.*") {
    bool lookaheadAlternation = false;
    if (scanGroup(p, 1, lookaheadAlternation) != std::string_view::npos && !lookaheadAlternation)
      rule.needle = literalRun(p, skipWordBoundary(6));
  }
}

// Least-recently-used map from agent string to result. Keys are views into the list nodes, which never move.
class LruCache {
 public:
  explicit LruCache(std::size_t capacity) : capacity_(capacity) {}

  std::optional<DeviceInfo> get(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->value;
  }

  // Returns true when an older entry had to go.
  bool put(std::string_view key, const DeviceInfo& value) {
    if (capacity_ == 0) return false;
    if (auto it = index_.find(key); it != index_.end()) {  // another thread parsed it meanwhile
      it->second->value = value;
      order_.splice(order_.begin(), order_, it->second);
      return false;
    }
    bool evicted = false;
    if (order_.size() >= capacity_) {
      index_.erase(order_.back().key);
      order_.pop_back();
      evicted = true;
    }
    order_.push_front(Entry{std::string(key), value});
    index_.emplace(order_.front().key, order_.begin());
    return evicted;
  }

  std::size_t size() const { return order_.size(); }
  std::size_t capacity() const { return capacity_; }

 private:
  struct Entry {
    std::string key;
    DeviceInfo value;
  };
  std::size_t capacity_;
  std::list<Entry> order_;  // front: most recently used
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
};

std::vector<std::string_view> splitTabs(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  for (;;) {
    const std::size_t tab = line.find('\t', start);
    fields.push_back(line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start));
    if (tab == std::string_view::npos) return fields;
    start = tab + 1;
  }
}

}  // namespace

struct DeviceParser::Impl {
  explicit Impl(std::size_t cacheEntries) : cache(cacheEntries) {}

  std::vector<Rule> rules;

  mutable std::mutex mu;  // guards cache and the counters below
  mutable LruCache cache;
  mutable Stats counters;

  DeviceInfo match(std::string_view agent) const {
    std::cmatch m;
    for (const auto& rule : rules) {
      if (!rule.mayMatch(agent)) continue;
      bool found = false;
      try {
        const auto flags = rule.anchored ? std::regex_constants::match_continuous : std::regex_constants::match_default;
        found = std::regex_search(agent.data(), agent.data() + agent.size(), m, rule.re, flags);
      } catch (const std::regex_error&) {
        std::lock_guard lock(mu);
        ++counters.matchErrors;
      }
      if (!found) continue;
      DeviceInfo info;
      info.brand = rule.brand;
      info.model = rule.model.expand(m);
      info.firmware = rule.firmware.expand(m);
      info.ruleLine = rule.line;
      return info;
    }
    return {};
  }
};

DeviceParser::DeviceParser(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DeviceParser::DeviceParser(DeviceParser&&) noexcept = default;
DeviceParser& DeviceParser::operator=(DeviceParser&&) noexcept = default;
DeviceParser::~DeviceParser() = default;

DeviceParser DeviceParser::loadFile(const std::string& path, std::size_t cacheEntries) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DeviceTableError(path + ": cannot open device table", 0);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw DeviceTableError(path + ": cannot read device table", 0);
  return fromText(text.str(), path, cacheEntries);
}

DeviceParser DeviceParser::fromText(std::string_view text, std::string_view name, std::size_t cacheEntries) {
  auto impl = std::make_unique<Impl>(cacheEntries);
  auto fail = [name](unsigned line, const std::string& problem) {
    throw DeviceTableError(std::string(name) + ":" + std::to_string(line) + ": " + problem, line);
  };

  bool sawHeader = false;
  unsigned lineNo = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

    const std::string_view content = trim(line);
    if (content.empty() || content.front() == '#') continue;
    if (!sawHeader) {
      if (line != kHeader)
        fail(lineNo,
             "the first line that is not a comment must be the header \"brand<TAB>pattern<TAB>model<TAB>firmware\"");
      sawHeader = true;
      continue;
    }

    const auto fields = splitTabs(line);
    if (fields.size() != 4) {
      fail(lineNo,
           "expected 4 TAB-separated fields (brand, pattern, model, firmware), found " + std::to_string(fields.size()));
    }
    Rule rule;
    rule.line = lineNo;
    rule.brand = std::string(trim(fields[0]));
    if (rule.brand.empty()) fail(lineNo, "brand is empty");

    std::string_view pattern = fields[1];
    auto syntax = std::regex::ECMAScript | std::regex::optimize;
    if (pattern.substr(0, kNoCase.size()) == kNoCase) {
      pattern.remove_prefix(kNoCase.size());
      syntax |= std::regex::icase;
      rule.icase = true;
    }
    if (pattern.empty()) fail(lineNo, "pattern is empty");
    try {
      rule.re = std::regex(pattern.begin(), pattern.end(), syntax);
    } catch (const std::regex_error& e) {
      fail(lineNo, "bad regular expression \"" + std::string(fields[1]) + "\": " + e.what());
    }
    analyse(pattern, rule);

    const unsigned groups = static_cast<unsigned>(rule.re.mark_count());
    if (auto err = rule.model.parse(trim(fields[2]), groups); !err.empty()) fail(lineNo, "model " + err);
    if (auto err = rule.firmware.parse(trim(fields[3]), groups); !err.empty()) fail(lineNo, "firmware " + err);
    impl->rules.push_back(std::move(rule));
  }
  if (!sawHeader) throw DeviceTableError(std::string(name) + ": no header line (empty device table)", 0);
  return DeviceParser(std::move(impl));
}

DeviceInfo DeviceParser::parse(std::string_view userAgent) const {
  std::string_view agent = trim(userAgent);
  if (agent.size() > kMaxAgentBytes) agent = trim(agent.substr(0, kMaxAgentBytes));
  if (agent.empty()) return {};
  {
    std::lock_guard lock(impl_->mu);
    if (auto hit = impl_->cache.get(agent)) {
      ++impl_->counters.hits;
      return *hit;
    }
    ++impl_->counters.misses;
  }
  DeviceInfo info = impl_->match(agent);
  std::lock_guard lock(impl_->mu);
  if (impl_->cache.put(agent, info)) ++impl_->counters.evictions;
  return info;
}

std::size_t DeviceParser::ruleCount() const {
  return impl_->rules.size();
}

std::size_t DeviceParser::cacheCapacity() const {
  return impl_->cache.capacity();
}

DeviceParser::Stats DeviceParser::stats() const {
  std::lock_guard lock(impl_->mu);
  Stats s = impl_->counters;
  s.entries = impl_->cache.size();
  return s;
}

}  // namespace sipedge::capture
