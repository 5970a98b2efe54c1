// TimerQueue: an indexed binary min-heap of deadlines, one entry per transaction slot.
//
// Each slot has at most one pending wake-up (its earliest timer), so rescheduling moves the entry instead
// of leaving a stale one behind: the heap never holds more than `capacity` items and needs no allocation
// after construction, even at tens of thousands of retransmission timers per second.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace sipbench {

class TimerQueue {
 public:
  explicit TimerQueue(uint32_t capacity) : at_(capacity, 0), pos_(capacity, kNone) { heap_.reserve(capacity); }

  // Sets (or moves) the deadline of `id`.
  void schedule(uint32_t id, int64_t at) {
    at_[id] = at;
    if (pos_[id] == kNone) {
      pos_[id] = static_cast<uint32_t>(heap_.size());
      heap_.push_back(id);
      siftUp(pos_[id]);
    } else {
      const uint32_t p = pos_[id];
      siftUp(p);
      siftDown(pos_[id]);
    }
  }

  void cancel(uint32_t id) {
    const uint32_t p = pos_[id];
    if (p == kNone) return;
    const uint32_t last = heap_.back();
    heap_.pop_back();
    pos_[id] = kNone;
    if (last != id) {
      heap_[p] = last;
      pos_[last] = p;
      siftUp(p);
      siftDown(pos_[last]);
    }
  }

  bool scheduled(uint32_t id) const { return pos_[id] != kNone; }
  bool empty() const { return heap_.empty(); }
  std::size_t size() const { return heap_.size(); }
  // Earliest deadline; only meaningful when !empty().
  int64_t next() const { return at_[heap_.front()]; }

  // Removes and returns one id whose deadline is <= now.
  bool popDue(int64_t now, uint32_t& id) {
    if (heap_.empty() || at_[heap_.front()] > now) return false;
    id = heap_.front();
    cancel(id);
    return true;
  }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;

  bool less(uint32_t a, uint32_t b) const { return at_[heap_[a]] < at_[heap_[b]]; }
  void swapAt(uint32_t a, uint32_t b) {
    std::swap(heap_[a], heap_[b]);
    pos_[heap_[a]] = a;
    pos_[heap_[b]] = b;
  }
  void siftUp(uint32_t i) {
    while (i > 0) {
      const uint32_t parent = (i - 1) / 2;
      if (!less(i, parent)) break;
      swapAt(i, parent);
      i = parent;
    }
  }
  void siftDown(uint32_t i) {
    const auto n = static_cast<uint32_t>(heap_.size());
    for (;;) {
      const uint32_t l = 2 * i + 1;
      const uint32_t r = l + 1;
      uint32_t m = i;
      if (l < n && less(l, m)) m = l;
      if (r < n && less(r, m)) m = r;
      if (m == i) break;
      swapAt(i, m);
      i = m;
    }
  }

  std::vector<uint32_t> heap_;
  std::vector<int64_t> at_;
  std::vector<uint32_t> pos_;
};

}  // namespace sipbench
