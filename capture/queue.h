// A bounded single-producer single-consumer queue: one per worker, drained by the capture writer. push() never
// blocks and never allocates beyond the element itself: a full queue refuses (the caller counts a drop), so
// forwarding never waits for the store.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>

namespace sipedge::capture {

template <typename T>
class SpscQueue {
 public:
  // Capacity is rounded up to a power of two.
  explicit SpscQueue(std::size_t capacity) : mask_(roundUp(capacity) - 1), slots_(new Slot[mask_ + 1]) {}

  // Producer only. Takes `v` on success; leaves it untouched and returns false when full.
  bool push(T&& v) {
    auto h = head_.load(std::memory_order_relaxed);
    if (h - tail_.load(std::memory_order_acquire) > mask_) return false;
    slots_[h & mask_].value.emplace(std::move(v));
    head_.store(h + 1, std::memory_order_release);
    return true;
  }

  // Consumer only.
  std::optional<T> pop() {
    auto t = tail_.load(std::memory_order_relaxed);
    if (t == head_.load(std::memory_order_acquire)) return std::nullopt;
    auto& slot = slots_[t & mask_].value;
    std::optional<T> out(std::move(*slot));
    slot.reset();
    tail_.store(t + 1, std::memory_order_release);
    return out;
  }

  std::size_t sizeApprox() const {
    return head_.load(std::memory_order_relaxed) - tail_.load(std::memory_order_relaxed);
  }
  std::size_t capacity() const { return mask_ + 1; }

 private:
  struct Slot {
    std::optional<T> value;
  };
  static std::size_t roundUp(std::size_t n) {
    std::size_t p = 1;
    while (p < n) p <<= 1;
    return p;
  }
  const std::size_t mask_;
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::atomic<std::size_t> tail_{0};
};

}  // namespace sipedge::capture
