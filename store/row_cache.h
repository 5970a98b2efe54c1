// BoundedCache: a size-bounded map for the writer's read-modify-write caches (decoded IP-log rows, device
// first-seen, per-user key prefixes). Two generations approximate LRU without a list node per entry: new and
// recently used entries live in the young map; when it reaches half the capacity it becomes the old map (the
// previous old map is dropped) and a hit in the old map moves the entry back to the young one. Never more than
// `capacity` entries. Not thread-safe: the store uses it under its write mutex only. Internal to store/.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace sipedge::store {

// For keys that end in a keyed hash (every row key in keys.h): their last 8 bytes are already uniformly
// distributed and cannot be chosen by a sender, so they are the hash.
struct KeyTailHash {
  std::size_t operator()(const std::string& k) const noexcept {
    std::uint64_t h = 0;
    if (k.size() >= sizeof h) {
      std::memcpy(&h, k.data() + k.size() - sizeof h, sizeof h);
    } else {
      h = std::hash<std::string>{}(k);
    }
    return static_cast<std::size_t>(h);
  }
};

// The last 16 bytes of an IP-log or device row key: the keyed hash of (tenant, user, ip | instance), which names
// the row on its own (the user and tenant hashes before it are implied by it). The row caches key on it, so an
// entry holds 16 bytes of key instead of a 49-byte string on the heap.
struct RowTail {
  std::uint64_t a = 0, b = 0;
  bool operator==(const RowTail&) const = default;
  static RowTail of(std::string_view key) {
    RowTail t;
    if (key.size() >= 16) {
      std::memcpy(&t.a, key.data() + key.size() - 16, 8);
      std::memcpy(&t.b, key.data() + key.size() - 8, 8);
    } else {  // no row key is this short; stay correct anyway
      std::memcpy(&t.a, key.data(), key.size() < 8 ? key.size() : 8);
      if (key.size() > 8) std::memcpy(&t.b, key.data() + 8, key.size() - 8);
    }
    return t;
  }
};
struct RowTailHash {
  std::size_t operator()(const RowTail& t) const noexcept { return static_cast<std::size_t>(t.b); }
};

template <class V, class Hash = std::hash<std::string>, class Key = std::string>
class BoundedCache {
 public:
  // capacity 0 disables the cache: find() always misses and put() keeps nothing.
  explicit BoundedCache(std::size_t capacity) : young_max_(capacity / 2 > 0 ? capacity / 2 : capacity) {}

  // The cached value, or nullptr. The pointer is valid until the next call that changes the cache.
  V* find(const Key& k) {
    if (young_max_ == 0) return nullptr;
    if (auto it = young_.find(k); it != young_.end()) return &it->second;
    auto it = old_.find(k);
    if (it == old_.end()) return nullptr;
    auto node = old_.extract(it);
    makeRoom();
    return &young_.insert(std::move(node)).position->second;
  }

  // Inserts or replaces; returns the stored value (nullptr when the cache is off), valid like find()'s.
  V* put(const Key& k, V v) {
    if (young_max_ == 0) return nullptr;
    if (auto it = young_.find(k); it != young_.end()) {
      it->second = std::move(v);
      return &it->second;
    }
    old_.erase(k);
    makeRoom();
    return &young_.emplace(k, std::move(v)).first->second;
  }

  void erase(const Key& k) {
    young_.erase(k);
    old_.erase(k);
  }

  void clear() {
    young_.clear();
    old_.clear();
  }

  std::size_t size() const { return young_.size() + old_.size(); }

 private:
  void makeRoom() {
    if (young_.size() < young_max_) return;
    old_ = std::move(young_);
    young_.clear();
    young_.reserve(young_max_);
  }

  std::size_t young_max_;
  std::unordered_map<Key, V, Hash> young_, old_;
};

}  // namespace sipedge::store
