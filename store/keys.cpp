// Key helpers (see keys.h).
#include "store/keys.h"

#include <cctype>

namespace sipedge::store {

std::string KeyCodec::normaliseMac(const std::string& mac) {
  std::string hex;
  for (char c : mac) {
    auto u = static_cast<unsigned char>(c);
    if (std::isxdigit(u)) {
      hex.push_back(static_cast<char>(std::tolower(u)));
    } else if (c != ':' && c != '-' && c != '.') {
      hex.clear();
      break;
    }
  }
  if (hex.size() != 12) {
    std::string low = mac;
    for (char& c : low) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return low;
  }
  std::string out;
  for (std::size_t i = 0; i < 12; i += 2) {
    if (i) out.push_back(':');
    out.append(hex, i, 2);
  }
  return out;
}

bool KeyCodec::isMac(const std::string& m) {
  if (m.size() != 17) return false;
  for (std::size_t i = 0; i < m.size(); ++i) {
    const bool sep = i % 3 == 2;
    const auto c = static_cast<unsigned char>(m[i]);
    if (sep ? c != ':' : !(std::isdigit(c) || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string prefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(prefix.back());
    if (last != 0xff) {
      ++last;
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

}  // namespace sipedge::store
