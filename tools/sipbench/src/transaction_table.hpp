// TransactionTable: a fixed pool of UAC slots, one per in-flight transaction or call.
//
// A slot index and generation travel in the Via branch (see txn_key.hpp), so finding the slot of a
// response is an array index plus a generation check, and freeing is a push onto a stack: no hashing,
// no allocation after construction.
#pragma once

#include <cstdint>
#include <vector>

#include "dialog.hpp"
#include "txn_key.hpp"

namespace sipbench {

enum class SlotState : uint8_t { Free, Register, Options, Invite, Hold, Bye };

struct Slot {
  uint32_t gen = 0;
  SlotState state = SlotState::Free;
  bool provisional = false;   // a 1xx arrived for the current transaction
  bool have_dialog = false;   // `dialog` holds the dialog of the current generation
  uint64_t user = 0;
  int64_t txn_start_us = 0;   // first transmission of the current transaction
  int64_t call_start_us = 0;  // first transmission of the INVITE
  int64_t retx_at_us = 0;     // next retransmission, 0 = none
  int64_t retx_interval_us = 0;
  int64_t deadline_us = 0;    // transaction timeout, or end of hold
  Dialog dialog;
};

class TransactionTable {
 public:
  explicit TransactionTable(uint32_t capacity) : slots_(capacity) {
    free_.reserve(capacity);
    for (uint32_t i = capacity; i > 0; --i) free_.push_back(i - 1);
  }

  // Takes a free slot and starts a new generation on it. False when all slots are busy.
  bool acquire(uint32_t& idx) {
    if (free_.empty()) return false;
    idx = free_.back();
    free_.pop_back();
    Slot& s = slots_[idx];
    ++s.gen;
    s.provisional = false;
    s.have_dialog = false;
    return true;
  }

  // Returns the slot to the pool. Its generation, user and dialog stay readable until the next acquire,
  // which lets late retransmitted final responses still be ACKed.
  void release(uint32_t idx) {
    slots_[idx].state = SlotState::Free;
    free_.push_back(idx);
  }

  // The slot a response key names, or nullptr for an index out of range or an older generation.
  Slot* find(const TxnKey& k) {
    if (k.slot >= slots_.size()) return nullptr;
    Slot& s = slots_[k.slot];
    return s.gen == k.gen ? &s : nullptr;
  }

  Slot& operator[](uint32_t idx) { return slots_[idx]; }
  uint32_t capacity() const { return static_cast<uint32_t>(slots_.size()); }
  uint32_t freeCount() const { return static_cast<uint32_t>(free_.size()); }
  uint32_t inUse() const { return capacity() - freeCount(); }

 private:
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
};

}  // namespace sipbench
