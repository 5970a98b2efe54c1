// What a pipeline stage sees: the parsed message, where it came from, this worker's sockets, and the decisions
// the stages have made so far (reply, next hop).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "counters.h"
#include "endpoint.h"
#include "route_token.h"
#include "sip_message.h"
#include "zones.h"

namespace sipedge::capture {
class WorkerCapture;
}

namespace sipedge::proxy {

// One of a worker's sockets. Public = an access-facing [[listen]] entry (shared by all workers with
// SO_REUSEPORT); Internal = this worker's own PBX-facing socket of the given transport.
struct SocketId {
  enum class Kind : std::uint8_t { Public, Internal };
  Kind kind = Kind::Public;
  std::uint8_t index = 0;  // listener index, for Public
  Transport transport = Transport::Udp;

  // Two hex digits in our Via branch, so a response knows which socket to leave by.
  std::uint8_t code() const { return kind == Kind::Public ? index : (transport == Transport::Udp ? 0xFE : 0xFF); }
  static std::optional<SocketId> fromCode(std::uint8_t c, std::size_t listeners, const std::vector<conf::Listen>& l);
};

// The addresses of every socket sipedge holds, as this worker sees them.
class LocalSockets {
 public:
  std::vector<Endpoint> publics;  // index = listener index
  Endpoint internalUdp, internalTcp;
  std::vector<Endpoint> everyInternal;  // all workers' internal sockets: routes we wrote on any worker are ours

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

// Everything stages share within one worker; owned by the worker.
struct WorkerEnv {
  unsigned worker = 0;
  std::shared_ptr<const conf::Config> cfg;
  const ZoneTable* zones = nullptr;
  PbxHealth* pbx = nullptr;
  const RouteToken* tokens = nullptr;
  capture::WorkerCapture* capture = nullptr;  // null when capture is off
  LocalSockets local;
  Counters counters;
};

struct Context {
  Context(SipMessage& msg, const Endpoint& src, SocketId inSock, WorkerEnv& e)
      : m(msg), source(src), in(inSock), env(e), sourceZone(e.zones->classify(src.addr)) {}

  SipMessage& m;
  const Endpoint& source;
  SocketId in;
  WorkerEnv& env;
  Zone sourceZone;

  // Set by a stage that answers locally; the worker sends it back the way the request came.
  std::string reply;
  void respond(int status, std::string_view phrase, std::string_view extra = {});

  // Route pre-processing results.
  bool poppedOurRoute = false;
  std::optional<Endpoint> routeDst;  // the access peer named in our own Route/Path (`dst` parameter)

  // Next hop, set by the TargetSelector.
  std::optional<Endpoint> target;
  Zone targetZone = Zone::Access;
  SocketId out;
  std::uint32_t loopHash = 0;
  // For responses: the worker that forwarded the request (from our branch); -1 = this one.
  int ownerWorker = -1;
  // Why a stage dropped the message without a reply (for debug logs).
  const char* dropReason = nullptr;
};

}  // namespace sipedge::proxy
