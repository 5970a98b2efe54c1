// UacWorker: client transactions per RFC 3261 §17.1 over UDP, driven by a single-threaded poll loop.
//
// Each loop turn fires due timers, admits new work (rate and count), flushes the send batch, then drains
// the socket with recvmmsg. Every wait is bounded by the next timer, the next token or 100 ms, so signals
// and deadlines are noticed promptly; the loop ends when no work is left or the drain deadline passes.
#include "uac.hpp"

#include <sys/prctl.h>

#include <algorithm>

#include "clock.hpp"

namespace sipbench {
namespace {

TxnKind kindOf(SlotState st) {
  switch (st) {
    case SlotState::Register:
      return TxnKind::Register;
    case SlotState::Options:
      return TxnKind::Options;
    case SlotState::Bye:
      return TxnKind::Bye;
    default:
      return TxnKind::Invite;
  }
}

}  // namespace

UacWorker::UacWorker(const Options& opts, uint32_t index, RunControl& ctl, uint32_t slots)
    : opts_(opts),
      index_(index),
      ctl_(ctl),
      t1_us_(int64_t{opts.t1_ms} * 1000),
      t2_us_(int64_t{opts.t2_ms} * 1000),
      timeout_us_(int64_t{opts.timeout_ms} * 1000),
      hold_us_(int64_t{opts.hold_ms} * 1000),
      table_(slots),
      timers_(slots) {}

std::string UacWorker::open() {
  if (!parseHostPort(opts_.target, target_))
    return "--target: expected numeric IPv4 HOST:PORT, got '" + opts_.target + "'";
  sockaddr_in local{};
  const uint16_t port = opts_.local_port ? static_cast<uint16_t>(opts_.local_port + index_) : 0;
  if (!makeAddr(opts_.local, port, local)) return "--local: expected a numeric IPv4 address, got '" + opts_.local + "'";
  if (auto err = sock_.open(local, false, opts_.socket_buffer); !err.empty()) return err;
  UacIdentity id;
  id.local_ip = opts_.local;
  id.local_hostport = formatAddr(sock_.local());
  id.domain = opts_.domain;
  id.callee = opts_.callee;
  id.user_prefix = opts_.user_prefix;
  id.expires = opts_.expires;
  id.run_id = ctl_.run_id;
  builder_.emplace(std::move(id));
  return {};
}

void UacWorker::run() {
  // Timer slack defaults to 50 µs; a rate-paced sender wants its wake-ups on time.
  prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  const int64_t drain_budget =
      (opts_.scenario == Scenario::Call ? hold_us_ + 2 * timeout_us_ : timeout_us_) + 1'000'000;
  int64_t drain_deadline = 0;
  for (;;) {
    int64_t now = nowUs();
    if (ctl_.stop->load(std::memory_order_relaxed) >= 2) break;

    uint32_t id;
    // Bounded per turn so a burst of expiring timers cannot starve the socket.
    for (int fired = 0; fired < 1024 && timers_.popDue(now, id); ++fired) onTimer(id, now);
    issue(now);
    tx_.flush(sock_.fd());

    if (!issuing_) {
      if (table_.inUse() == 0) break;
      if (drain_deadline == 0) drain_deadline = now + drain_budget;
      if (now >= drain_deadline) break;
    }

    const int n = rx_.receive(sock_.fd());
    if (n > 0) {
      now = nowUs();
      for (int i = 0; i < n; ++i) {
        ++stats_.messages_received;
        if (rx_.truncated(i)) {
          ++stats_.parse_errors;
          continue;
        }
        onDatagram(rx_.data(i), now);
      }
      tx_.flush(sock_.fd());
      continue;
    }

    int64_t wait = 100'000;
    if (!timers_.empty()) wait = std::min(wait, timers_.next() - now);
    if (issuing_ && table_.freeCount() > 0) {
      wait = std::min(wait, ctl_.limiter.waitUs(now));
      wait = std::min(wait, ctl_.issue_end - now);
    }
    if (drain_deadline) wait = std::min(wait, drain_deadline - now);
    waitReadable(sock_.fd(), wait);
  }
  // Whatever is still open now never completed: count it, so attempted == succeeded + failed.
  stats_.aborted = table_.inUse();
  stats_.failed += stats_.aborted;
  stats_.messages_sent = tx_.sent();
  stats_.send_drops = tx_.dropped();
  stats_.build_errors = tx_.buildErrors();
}

void UacWorker::issue(int64_t now) {
  if (!issuing_) return;
  if (ctl_.stop->load(std::memory_order_relaxed) >= 1 || now >= ctl_.issue_end) {
    issuing_ = false;
    return;
  }
  const uint32_t want = std::min<uint32_t>(table_.freeCount(), kBatch);
  if (want == 0) return;
  const uint32_t granted = ctl_.limiter.take(now, want);
  if (granted == 0) return;
  uint64_t first = 0;
  const uint32_t n = ctl_.budget.take(granted, first);
  if (n == 0) {
    issuing_ = false;
    return;
  }
  for (uint32_t j = 0; j < n; ++j) {
    uint32_t idx;
    if (!table_.acquire(idx)) break;  // cannot happen: want <= freeCount
    start(idx, first + j, now);
  }
}

void UacWorker::start(uint32_t idx, uint64_t seq, int64_t now) {
  Slot& s = table_[idx];
  s.user = seq % opts_.users;
  switch (opts_.scenario) {
    case Scenario::Register:
      s.state = SlotState::Register;
      break;
    case Scenario::Options:
      s.state = SlotState::Options;
      break;
    case Scenario::Call:
      s.state = SlotState::Invite;
      break;
  }
  s.call_start_us = now;
  beginTxn(s, now);
  ++stats_.attempted;
  if (!stats_.first_issue_us) stats_.first_issue_us = now;
  stats_.last_issue_us = now;
  sendCurrent(idx);
  arm(idx);
}

void UacWorker::beginTxn(Slot& s, int64_t now) {
  s.txn_start_us = now;
  s.provisional = false;
  s.retx_interval_us = t1_us_;
  s.retx_at_us = now + t1_us_;        // Timer A (INVITE) or E (non-INVITE) starts at T1
  s.deadline_us = now + timeout_us_;  // Timer B / F
}

void UacWorker::sendCurrent(uint32_t idx) {
  Slot& s = table_[idx];
  const RequestBuilder& b = *builder_;
  switch (s.state) {
    case SlotState::Register: {
      const TxnKey k = key(idx, TxnPhase::Register);
      send(target_, [&](BufWriter& w) { b.registration(w, k, s.user); });
      break;
    }
    case SlotState::Options: {
      const TxnKey k = key(idx, TxnPhase::Options);
      send(target_, [&](BufWriter& w) { b.options(w, k, s.user); });
      break;
    }
    case SlotState::Invite: {
      const TxnKey k = key(idx, TxnPhase::Invite);
      send(target_, [&](BufWriter& w) { b.invite(w, k, s.user); });
      break;
    }
    case SlotState::Bye: {
      const TxnKey k = key(idx, TxnPhase::Bye);
      send(s.dialog.dest(), [&](BufWriter& w) { b.bye(w, k, s.user, s.dialog); });
      break;
    }
    case SlotState::Hold:
    case SlotState::Free:
      break;
  }
}

void UacWorker::sendAck(uint32_t idx) {
  Slot& s = table_[idx];
  const TxnKey k = key(idx, TxnPhase::Ack);
  send(s.dialog.dest(), [&](BufWriter& w) { builder_->ack2xx(w, k, s.user, s.dialog); });
}

void UacWorker::sendBye(uint32_t idx, int64_t now) {
  Slot& s = table_[idx];
  s.state = SlotState::Bye;
  beginTxn(s, now);
  sendCurrent(idx);
}

void UacWorker::arm(uint32_t idx) {
  const Slot& s = table_[idx];
  if (s.state == SlotState::Free) {
    timers_.cancel(idx);
    return;
  }
  int64_t wake = s.deadline_us;
  if (s.retx_at_us && s.retx_at_us < wake) wake = s.retx_at_us;
  timers_.schedule(idx, wake);
}

void UacWorker::onTimer(uint32_t idx, int64_t now) {
  Slot& s = table_[idx];
  if (s.state == SlotState::Free) return;
  if (now >= s.deadline_us) {
    if (s.state == SlotState::Hold) {
      sendBye(idx, now);
    } else {
      ++stats_.timeouts[static_cast<std::size_t>(kindOf(s.state))];
      finish(idx, false, now);
      return;
    }
  } else if (s.retx_at_us && now >= s.retx_at_us) {
    sendCurrent(idx);
    ++stats_.retransmissions;
    // INVITE (Timer A) doubles without limit; non-INVITE (Timer E) doubles up to T2, and stays at T2 once
    // a provisional response arrived (RFC 3261 §17.1.2.2).
    if (s.state == SlotState::Invite) {
      s.retx_interval_us *= 2;
    } else {
      s.retx_interval_us = s.provisional ? t2_us_ : std::min(s.retx_interval_us * 2, t2_us_);
    }
    s.retx_at_us = now + s.retx_interval_us;
  }
  arm(idx);
}

void UacWorker::onDatagram(std::string_view data, int64_t now) {
  if (parseMessage(data, msg_) != ParseError::None) {
    ++stats_.parse_errors;
    return;
  }
  if (msg_.is_request) {
    ++stats_.unexpected_requests;  // a UAC in these scenarios expects none (no in-dialog requests from the far end)
    return;
  }
  ViaInfo via;
  TxnKey k;
  if (!parseVia(msg_.vias[0], via) || !parseBranch(via.branch, k) || k.worker != index_) {
    ++stats_.stray_responses;
    return;
  }
  Slot* s = table_.find(k);
  if (s == nullptr) {
    ++stats_.stray_responses;
    return;
  }
  const uint32_t idx = k.slot;
  switch (k.phase) {
    case TxnPhase::Invite:
      if (msg_.cseq_method != Method::Invite) break;
      onInviteResponse(idx, *s, msg_, now);
      return;
    case TxnPhase::Register:
      if (s->state != SlotState::Register || msg_.cseq_method != Method::Register) break;
      onNonInviteResponse(idx, *s, msg_, now);
      return;
    case TxnPhase::Options:
      if (s->state != SlotState::Options || msg_.cseq_method != Method::Options) break;
      onNonInviteResponse(idx, *s, msg_, now);
      return;
    case TxnPhase::Bye:
      if (s->state != SlotState::Bye || msg_.cseq_method != Method::Bye) break;
      onNonInviteResponse(idx, *s, msg_, now);
      return;
    case TxnPhase::Ack:
      break;  // ACK gets no response
  }
  ++stats_.stray_responses;
}

void UacWorker::onInviteResponse(uint32_t idx, Slot& s, const SipMessage& m, int64_t now) {
  if (s.state != SlotState::Invite) {
    // A retransmitted final response after we moved on: the ACK was lost, send it again.
    if (m.status >= 200 && m.status < 300 && s.have_dialog) {
      sendAck(idx);
      ++stats_.ack_resent;
    } else if (m.status >= 300) {
      const TxnKey k = key(idx, TxnPhase::Invite);
      send(target_, [&](BufWriter& w) { builder_->ackFailure(w, k, s.user, m.to); });
      ++stats_.ack_resent;
    } else {
      ++stats_.stray_responses;
    }
    return;
  }
  if (m.status < 200) {
    s.provisional = true;
    s.retx_at_us = 0;  // Proceeding: an unreliable INVITE is no longer retransmitted (§17.1.1.2)
    arm(idx);
    return;
  }
  if (m.status >= 300) {
    // Non-2xx: the transaction ACKs it hop-by-hop, with the INVITE's branch.
    const TxnKey k = key(idx, TxnPhase::Invite);
    send(target_, [&](BufWriter& w) { builder_->ackFailure(w, k, s.user, m.to); });
    failStatus(idx, m.status, now);
    return;
  }
  const Dialog::Result r = s.dialog.establish(m, builder_->inviteUri(), target_);
  if (r != Dialog::Result::Ok) {
    ++stats_.dialog_errors;
    finish(idx, false, now);
    return;
  }
  s.have_dialog = true;
  if (s.dialog.usedFallback()) ++stats_.dest_fallbacks;
  stats_.invite.record(static_cast<uint64_t>(now - s.txn_start_us));
  sendAck(idx);
  if (hold_us_ > 0) {
    s.state = SlotState::Hold;
    s.retx_at_us = 0;
    s.deadline_us = now + hold_us_;
  } else {
    sendBye(idx, now);
  }
  arm(idx);
}

void UacWorker::onNonInviteResponse(uint32_t idx, Slot& s, const SipMessage& m, int64_t now) {
  if (m.status < 200) {
    if (!s.provisional) {
      s.provisional = true;
      s.retx_interval_us = t2_us_;
      s.retx_at_us = now + t2_us_;
      arm(idx);
    }
    return;
  }
  if (m.status >= 300) {
    failStatus(idx, m.status, now);
    return;
  }
  const auto latency = static_cast<uint64_t>(now - s.txn_start_us);
  if (s.state == SlotState::Bye) {
    stats_.bye.record(latency);
    stats_.call.record(static_cast<uint64_t>(now - s.call_start_us));
  } else {
    stats_.txn.record(latency);
  }
  finish(idx, true, now);
}

void UacWorker::failStatus(uint32_t idx, int status, int64_t now) {
  if (status >= 0 && static_cast<std::size_t>(status) < stats_.final_status.size())
    ++stats_.final_status[static_cast<std::size_t>(status)];
  finish(idx, false, now);
}

void UacWorker::finish(uint32_t idx, bool ok, int64_t now) {
  if (ok) {
    ++stats_.succeeded;
  } else {
    ++stats_.failed;
  }
  stats_.last_done_us = now;
  table_.release(idx);
  timers_.cancel(idx);
}

}  // namespace sipbench
