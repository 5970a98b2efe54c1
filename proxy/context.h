// What a pipeline stage sees: the message (raw bytes, then parsed), where it came from, this worker's sockets
// and shared state, and the decisions the stages before it made. Each decision field names the one stage that
// sets it; proxy/pipeline.cpp runs the stages in that order, so a stage reads only fields set above it.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "counters.h"
#include "endpoint.h"
#include "route_token.h"
#include "sip_message.h"
#include "verdict.h"
#include "zones.h"

namespace sipedge::capture {
class WorkerCapture;
}

namespace sipedge::proxy {

struct Dialog;
class DialogTable;
class HealthChecker;

// One of a worker's sockets. Public = an access-facing [[listen]] entry (shared by all workers with
// SO_REUSEPORT); Internal = this worker's own PBX-facing socket of the given transport.
struct SocketId {
  enum class Kind : std::uint8_t { Public, Internal };
  Kind kind = Kind::Public;
  std::uint8_t index = 0;  // listener index, for Public
  Transport transport = Transport::Udp;

  // Two hex digits in our Via branch, so a response knows which socket to leave by.
  std::uint8_t code() const { return kind == Kind::Public ? index : (transport == Transport::Udp ? 0xFE : 0xFF); }
  static std::optional<SocketId> fromCode(std::uint8_t c, const std::vector<conf::Listen>& listeners);
};

// The addresses of every socket sipedge holds, as this worker sees them.
class LocalSockets {
 public:
  std::vector<Endpoint> publics;  // index = listener index
  Endpoint internalUdp, internalTcp;
  std::vector<Endpoint> everyInternal;  // all workers' internal sockets: routes we wrote on any worker are ours

  // The address of socket `s`; an index past the listeners (never made by fromCode) gives the internal socket.
  Endpoint local(const SocketId& s) const;
  // True when the URI's host and port are one of our sockets (any transport).
  bool isUs(const url_t* u) const;
  bool isUs(const boost::asio::ip::address& a, std::uint16_t port) const;
  // The socket to send from toward `target` in `zone`.
  SocketId outFor(const Endpoint& target, Zone zone) const;
};

// Which PBX is up; written by the health checker on worker 0, read by every worker.
class PbxHealth {
 public:
  explicit PbxHealth(std::vector<Endpoint> targets);
  const std::vector<Endpoint>& targets() const { return targets_; }
  // Index of the first PBX that is up, or -1.
  int active() const;
  bool up(std::size_t i) const { return up_[i].load(std::memory_order_relaxed); }
  void set(std::size_t i, bool isUp) { up_[i].store(isUp, std::memory_order_relaxed); }

 private:
  std::vector<Endpoint> targets_;
  std::unique_ptr<std::atomic<bool>[]> up_;
};

// Everything stages share within one worker; owned by the worker. The pointers are borrowed and outlive it.
struct WorkerEnv {
  unsigned worker = 0;
  std::shared_ptr<const conf::Config> cfg;
  const ZoneTable* zones = nullptr;
  PbxHealth* pbx = nullptr;
  const RouteToken* tokens = nullptr;
  capture::WorkerCapture* capture = nullptr;  // null when capture is off
  HealthChecker* health = nullptr;            // worker 0 only: it sends the PBX pings
  DialogTable* dialogs = nullptr;             // this worker's dialogs
  LocalSockets local;
  Counters counters;
  std::string wire;  // the encoded message of the one Context in flight (its capacity is kept)
};

struct Context {
  // `bytes` must outlive the Context; `passedOn`: another worker received it and handed it here (and counted it).
  Context(std::string_view bytes, const Endpoint& src, SocketId inSock, WorkerEnv& e, bool passedOn = false)
      : raw(bytes),
        source(src),
        in(inSock),
        env(e),
        sourceZone(e.zones->classify(src.addr)),
        handedOver(passedOn),
        wire(e.wire) {}

  // At receipt.
  std::string_view raw;
  const Endpoint& source;
  SocketId in;
  WorkerEnv& env;
  Zone sourceZone;
  bool handedOver;

  // ingress, Parser: the parsed message (invalid before it).
  SipMessage m;
  // routing, RouteProcessor: the access peer named in our own Route/Path (`dst` parameter).
  std::optional<Endpoint> routeDst;
  // routing, LoopDetector: the loop hash of the request as it will be forwarded (ViaAdder puts it in the branch).
  std::uint32_t loopHash = 0;
  // routing, TargetSelector (requests) or ResponseRouter (responses): the next hop and the socket to leave by.
  std::optional<Endpoint> target;
  Zone targetZone = Zone::Access;
  SocketId out;
  // routing, ResponseRouter: the worker that forwarded the request (from our branch).
  unsigned owner = 0;
  // dialog, DialogTracker: the INVITE dialog this message belongs to (null when none), and whether this
  // message opened it.
  Dialog* dialog = nullptr;
  bool dialogOpened = false;
  // The pipeline, after the dialog chain: the bytes as they will leave (egress reads them).
  std::string& wire;

  // Wall-clock time in ms since the epoch, read once per message (on first use).
  std::int64_t nowMs() {
    if (now_ == 0)
      now_ = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                 .count();
    return now_;
  }

  // Any stage that answers: the response for the sender.
  std::string reply;
  // Builds a response to the parsed request and returns the Answer verdict.
  Verdict answer(int status, std::string_view phrase, Reason why, std::string_view extra = {});
  // For the bytes sofia could not parse (RFC 3261 §8.2.6.1): a response built from the raw header lines, or a
  // drop when they do not look like a request.
  Verdict answerRaw(int status, std::string_view phrase, Reason why);

 private:
  std::int64_t now_ = 0;
};

}  // namespace sipedge::proxy
