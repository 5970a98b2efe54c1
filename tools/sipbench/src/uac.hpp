// UacWorker: one thread of the UAC role — its own socket, transaction table, timers and stats — sharing
// only the admission controls (RunControl) with the other workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "message_builder.hpp"
#include "options.hpp"
#include "rate_limiter.hpp"
#include "stats.hpp"
#include "timer_queue.hpp"
#include "transaction_table.hpp"
#include "udp_io.hpp"

namespace sipbench {

// Shared by all UAC workers of a run.
struct RunControl {
  RunControl(double rate, double burst, uint64_t count, int64_t start_us, int64_t issue_end_us)
      : limiter(rate, burst, start_us), budget(count), start(start_us), issue_end(issue_end_us) {}
  RateLimiter limiter;
  CountBudget budget;
  int64_t start;
  int64_t issue_end;                      // no new work after this (duration or the hard cap)
  const std::atomic<int>* stop = nullptr;  // 1: stop issuing and drain; 2: abort now (set by signals)
  uint32_t run_id = 0;                     // goes into Call-IDs, see UacIdentity::run_id
};

class UacWorker {
 public:
  UacWorker(const Options& opts, uint32_t index, RunControl& ctl, uint32_t slots);

  // Binds the worker's socket; returns an error message or empty.
  std::string open();
  void run();
  const UacStats& stats() const { return stats_; }

 private:
  TxnKey key(uint32_t idx, TxnPhase phase) { return TxnKey{index_, idx, table_[idx].gen, phase}; }

  void issue(int64_t now);
  void start(uint32_t idx, uint64_t seq, int64_t now);
  void beginTxn(Slot& s, int64_t now);
  void sendCurrent(uint32_t idx);
  void sendAck(uint32_t idx);
  void sendBye(uint32_t idx, int64_t now);
  void arm(uint32_t idx);
  void onTimer(uint32_t idx, int64_t now);
  void onDatagram(std::string_view data, int64_t now);
  void onInviteResponse(uint32_t idx, Slot& s, const SipMessage& m, int64_t now);
  void onNonInviteResponse(uint32_t idx, Slot& s, const SipMessage& m, int64_t now);
  void finish(uint32_t idx, bool ok, int64_t now);
  void failStatus(uint32_t idx, int status, int64_t now);

  template <typename F>
  void send(const sockaddr_in& dest, F&& build) {
    BufWriter w = tx_.begin(sock_.fd());
    build(w);
    tx_.commit(w, dest);
  }

  const Options& opts_;
  const uint32_t index_;
  RunControl& ctl_;
  const int64_t t1_us_;
  const int64_t t2_us_;
  const int64_t timeout_us_;
  const int64_t hold_us_;
  sockaddr_in target_{};
  UdpSocket sock_;
  std::optional<RequestBuilder> builder_;
  TransactionTable table_;
  TimerQueue timers_;
  RecvBatch rx_;
  SendBatch tx_;
  SipMessage msg_;  // reused for every datagram
  UacStats stats_;
  bool issuing_ = true;
};

}  // namespace sipbench
