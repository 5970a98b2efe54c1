// MAC extraction and normalisation; the rules are documented in mac.h.
#include "capture/mac.h"

#include <array>
#include <cstdint>
#include <optional>

namespace sipedge::capture {
namespace {

using Mac = std::array<std::uint8_t, 6>;

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
bool isHex(char c) {
  return hexValue(c) >= 0;
}
bool isAlnum(char c) {
  return isHex(c) || (c >= 'g' && c <= 'z') || (c >= 'G' && c <= 'Z');
}
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
bool isBlank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && isBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && isBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Exactly 12 hex digits, with separators at fixed positions: none, every 2 (':' or '-', one kind), or every 4
// ('.'). `s` must hold nothing else.
std::optional<Mac> parseMac(std::string_view s) {
  std::array<int, 12> nibbles{};
  std::size_t n = 0;
  if (s.size() == 12) {
    for (char c : s) {
      int v = hexValue(c);
      if (v < 0) return std::nullopt;
      nibbles[n++] = v;
    }
  } else if (s.size() == 17 || s.size() == 14) {
    const std::size_t group = s.size() == 17 ? 2 : 4;
    const char sep = s[group];
    if (group == 2 ? (sep != ':' && sep != '-') : sep != '.') return std::nullopt;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if ((i + 1) % (group + 1) == 0) {
        if (s[i] != sep) return std::nullopt;
        continue;
      }
      int v = hexValue(s[i]);
      if (v < 0) return std::nullopt;
      nibbles[n++] = v;
    }
  } else {
    return std::nullopt;
  }
  Mac mac{};
  for (std::size_t i = 0; i < 6; ++i) mac[i] = static_cast<std::uint8_t>(nibbles[2 * i] << 4 | nibbles[2 * i + 1]);
  return mac;
}

// Zero, broadcast and multicast addresses never name one device (broadcast has the multicast bit too).
bool unicastNonZero(const Mac& m) {
  bool zero = true;
  for (auto b : m) zero = zero && b == 0;
  return !zero && (m[0] & 0x01) == 0;
}
bool universal(const Mac& m) {
  return (m[0] & 0x02) == 0;
}

std::string format(const Mac& m) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(17);
  for (std::size_t i = 0; i < 6; ++i) {
    if (i) out.push_back(':');
    out.push_back(kDigits[m[i] >> 4]);
    out.push_back(kDigits[m[i] & 0x0f]);
  }
  return out;
}

// A 36-character RFC 4122 UUID at the start of `s` that is version 1 with the RFC variant; returns its node.
std::optional<Mac> timeBasedNode(std::string_view s) {
  if (s.size() < 36) return std::nullopt;
  for (std::size_t i = 0; i < 36; ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !isHex(s[i])) return std::nullopt;
  }
  if (s.size() > 36 && isAlnum(s[36])) return std::nullopt;  // longer than a UUID: not one
  if (s[14] != '1') return std::nullopt;                     // version nibble
  const char variant = lower(s[19]);
  if (variant != '8' && variant != '9' && variant != 'a' && variant != 'b') return std::nullopt;
  return parseMac(s.substr(24, 12));
}

std::size_t findNoCase(std::string_view hay, std::string_view needle, std::size_t from) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (std::size_t i = from; i + needle.size() <= hay.size(); ++i) {
    std::size_t k = 0;
    while (k < needle.size() && lower(hay[i + k]) == needle[k]) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

bool equalsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool userAgentLeftEdge(char c) {
  return isBlank(c) || c == '(' || c == '[' || c == '_' || c == ',' || c == ';' || c == '=';
}
bool userAgentRightEdge(char c) {
  return isBlank(c) || c == ')' || c == ']' || c == ',' || c == ';';
}

}  // namespace

std::string normaliseMac(std::string_view text) {
  auto mac = parseMac(trim(text));
  return mac && unicastNonZero(*mac) ? format(*mac) : std::string();
}

std::string macFromInstance(std::string_view text) {
  static constexpr std::string_view kUrn = "urn:uuid:";
  auto accept = [](std::optional<Mac> node) { return node && unicastNonZero(*node) && universal(*node); };
  bool sawUrn = false;
  for (std::size_t at = findNoCase(text, kUrn, 0); at != std::string_view::npos;
       at = findNoCase(text, kUrn, at + kUrn.size())) {
    sawUrn = true;
    auto node = timeBasedNode(text.substr(at + kUrn.size()));
    if (accept(node)) return format(*node);
  }
  if (sawUrn) return {};
  // A bare UUID, possibly still wrapped as in the parameter value: "<…>" or "\"<…>\"".
  std::string_view bare = trim(text);
  while (!bare.empty() && (bare.front() == '"' || bare.front() == '<')) bare.remove_prefix(1);
  while (!bare.empty() && (bare.back() == '"' || bare.back() == '>')) bare.remove_suffix(1);
  if (bare.size() != 36) return {};
  auto node = timeBasedNode(bare);
  return accept(node) ? format(*node) : std::string();
}

std::string macFromUserAgent(std::string_view ua) {
  const std::size_t n = ua.size();
  // Separated forms first: they cannot be confused with a version number.
  for (std::size_t i = 0; i + 17 <= n; ++i) {
    if (i > 0 && (isAlnum(ua[i - 1]) || ua[i - 1] == ':' || ua[i - 1] == '-')) continue;
    if (i + 17 < n && (isAlnum(ua[i + 17]) || ua[i + 17] == ':' || ua[i + 17] == '-')) continue;
    if (auto mac = parseMac(ua.substr(i, 17)); mac && unicastNonZero(*mac) && universal(*mac)) return format(*mac);
  }
  // Bare runs of exactly 12 hex digits standing alone as a word.
  std::size_t i = 0;
  while (i < n) {
    if (!isHex(ua[i])) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < n && isAlnum(ua[j])) ++j;
    const bool leftOk = i == 0 || userAgentLeftEdge(ua[i - 1]);
    const bool rightOk = j == n || userAgentRightEdge(ua[j]);
    if (j - i == 12 && leftOk && rightOk) {
      if (auto mac = parseMac(ua.substr(i, 12)); mac && unicastNonZero(*mac) && universal(*mac)) return format(*mac);
    }
    i = j;
  }
  return {};
}

std::string macFromContactParams(std::string_view contact) {
  struct Param {
    std::string_view name, value;
  };
  // Every ";name=value" in the text, URI parameters and header parameters alike; values may be quoted.
  auto forEachParam = [contact](auto&& visit) {
    std::size_t i = 0;
    while ((i = contact.find(';', i)) != std::string_view::npos) {
      std::size_t nameStart = i + 1;
      std::size_t j = nameStart;
      while (j < contact.size() && contact[j] != '=' && contact[j] != ';' && contact[j] != '>' && contact[j] != ',' &&
             contact[j] != '?')
        ++j;
      if (j >= contact.size() || contact[j] != '=') {
        i = j;
        continue;
      }
      std::string_view name = trim(contact.substr(nameStart, j - nameStart));
      std::size_t v = j + 1;
      while (v < contact.size() && isBlank(contact[v])) ++v;
      std::size_t end = v;
      if (v < contact.size() && contact[v] == '"') {
        end = contact.find('"', v + 1);
        end = end == std::string_view::npos ? contact.size() : end + 1;
      } else {
        while (end < contact.size() && contact[end] != ';' && contact[end] != '>' && contact[end] != ',' &&
               contact[end] != '?' && contact[end] != '&' && !isBlank(contact[end]))
          ++end;
      }
      if (visit(Param{name, contact.substr(v, end - v)})) return;
      i = end;
    }
  };
  auto unquote = [](std::string_view s) {
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    return s;
  };

  std::string found;
  forEachParam([&](const Param& p) {
    if (equalsNoCase(p.name, "mac") || equalsNoCase(p.name, "x-mac") || equalsNoCase(p.name, "x_mac"))
      found = normaliseMac(unquote(p.value));
    return !found.empty();
  });
  if (!found.empty()) return found;
  forEachParam([&](const Param& p) {
    if (equalsNoCase(p.name, "+sip.instance") || equalsNoCase(p.name, "gr")) found = macFromInstance(p.value);
    return !found.empty();
  });
  return found;
}

}  // namespace sipedge::capture
