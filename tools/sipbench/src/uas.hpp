// UasWorker: one thread of the UAS role (the PBX stand-in). It is stateless: every response is derived
// from the request alone, so any worker can answer any retransmission and the UAS never holds memory
// per call.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "message_builder.hpp"
#include "options.hpp"
#include "stats.hpp"
#include "udp_io.hpp"

namespace sipbench {

class UasWorker {
 public:
  UasWorker(const Options& opts, const std::atomic<int>& stop, int64_t end_us);

  // Binds to `addr` with SO_REUSEPORT so all workers can share the port. Returns an error or empty.
  std::string open(const sockaddr_in& addr);
  const sockaddr_in& local() const { return sock_.local(); }
  void run();
  const UasStats& stats() const { return stats_; }

 private:
  void onDatagram(std::string_view data, const sockaddr_in& src);
  void respond(const SipMessage& req, const sockaddr_in& dest, const ResponseSpec& spec);
  // RFC 3261 §18.2.2 for unreliable transports: received (else sent-by host), rport value (else sent-by
  // port, else 5060). Falls back to the packet source when that is not a numeric IPv4 address.
  sockaddr_in replyDest(const SipMessage& req, const sockaddr_in& src);

  const Options& opts_;
  const std::atomic<int>& stop_;
  const int64_t end_us_;
  UdpSocket sock_;
  std::optional<ResponseBuilder> builder_;
  RecvBatch rx_;
  SendBatch tx_;
  SipMessage msg_;
  UasStats stats_;
};

}  // namespace sipbench
