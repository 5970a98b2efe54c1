// UasWorker implementation.
#include "uas.hpp"

#include <algorithm>

#include "clock.hpp"

namespace sipbench {

UasWorker::UasWorker(const Options& opts, const std::atomic<int>& stop, int64_t end_us)
    : opts_(opts), stop_(stop), end_us_(end_us) {}

std::string UasWorker::open(const sockaddr_in& addr) {
  if (auto err = sock_.open(addr, true, opts_.socket_buffer); !err.empty()) return err;
  UasIdentity id;
  const std::string hp = formatAddr(sock_.local());
  id.local_ip = hp.substr(0, hp.rfind(':'));
  id.contact = "<sip:uas@" + hp + ">";
  builder_.emplace(std::move(id));
  return {};
}

void UasWorker::run() {
  for (;;) {
    if (stop_.load(std::memory_order_relaxed) >= 1) break;
    const int64_t now = nowUs();
    if (end_us_ && now >= end_us_) break;
    const int n = rx_.receive(sock_.fd());
    if (n > 0) {
      for (int i = 0; i < n; ++i) {
        ++stats_.received;
        if (rx_.truncated(i)) {
          ++stats_.parse_errors;
          continue;
        }
        onDatagram(rx_.data(i), rx_.source(i));
      }
      tx_.flush(sock_.fd());
      continue;
    }
    int64_t wait = 100'000;  // short enough to notice signals and the end time
    if (end_us_) wait = std::min(wait, end_us_ - now);
    waitReadable(sock_.fd(), wait);
  }
  tx_.flush(sock_.fd());
  stats_.responses_sent = tx_.sent();
  stats_.send_drops = tx_.dropped();
  stats_.build_errors = tx_.buildErrors();
}

sockaddr_in UasWorker::replyDest(const SipMessage& req, const sockaddr_in& src) {
  if (opts_.reply_to_source) return src;
  ViaInfo v;
  if (!parseVia(req.vias[0], v)) {
    ++stats_.via_fallbacks;
    return src;
  }
  const std::string_view host = v.received.empty() ? v.host : v.received;
  uint16_t port = v.port ? v.port : 5060;
  if (v.has_rport && v.rport) port = v.rport;
  sockaddr_in dest;
  if (!makeAddr(host, port, dest)) {
    ++stats_.via_fallbacks;
    return src;
  }
  return dest;
}

void UasWorker::respond(const SipMessage& req, const sockaddr_in& dest, const ResponseSpec& spec) {
  BufWriter w = tx_.begin(sock_.fd());
  builder_->build(w, req, spec);
  tx_.commit(w, dest);
}

void UasWorker::onDatagram(std::string_view data, const sockaddr_in& src) {
  if (parseMessage(data, msg_) != ParseError::None) {
    ++stats_.parse_errors;
    return;
  }
  if (!msg_.is_request) {
    ++stats_.responses_received;
    return;
  }
  ++stats_.by_method[static_cast<std::size_t>(msg_.method)];
  if (msg_.method == Method::Ack) return;  // ACK ends the INVITE; nothing to send
  const sockaddr_in dest = replyDest(msg_, src);
  ResponseSpec spec;
  switch (msg_.method) {
    case Method::Register:
      spec.registrar = true;
      respond(msg_, dest, spec);
      break;
    case Method::Options:
    case Method::Bye:
      respond(msg_, dest, spec);
      break;
    case Method::Invite: {
      ResponseSpec trying{100, "Trying"};
      trying.add_tag = false;
      respond(msg_, dest, trying);
      ResponseSpec ringing{180, "Ringing"};
      ringing.record_route = ringing.contact = true;
      respond(msg_, dest, ringing);
      spec.record_route = spec.contact = spec.sdp = true;
      respond(msg_, dest, spec);
      break;
    }
    case Method::Cancel: {
      // Stateless: answer the CANCEL and end the INVITE it names with 487 (same branch, CSeq method INVITE).
      respond(msg_, dest, spec);
      ResponseSpec terminated{487, "Request Terminated"};
      terminated.cseq_method = Method::Invite;
      respond(msg_, dest, terminated);
      break;
    }
    case Method::Unknown: {
      ResponseSpec ni{501, "Not Implemented"};
      respond(msg_, dest, ni);
      break;
    }
    case Method::Ack:
      break;
  }
}

}  // namespace sipbench
