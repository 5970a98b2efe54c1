// PBX health: OPTIONS pings from worker 0; a PBX that misses `ping_failures` pings in a row is down, and the
// next target in the list takes its traffic. Any response counts as alive.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <vector>

#include "context.h"

namespace sipedge::proxy {

class Worker;

class HealthChecker {
 public:
  HealthChecker(Worker& w, PbxHealth& health);
  void start();
  // True when `m` answers one of our pings (and was consumed).
  // Only an answer from the pinged target's address on an internal socket counts: a phone cannot keep a dead
  // PBX "up" by echoing our ping.
  bool onResponse(const SipMessage& m, const Endpoint& src, SocketId in);

 private:
  void round();
  void judge();

  Worker& w_;
  PbxHealth& health_;
  boost::asio::steady_timer timer_, deadline_;
  std::vector<unsigned> failures_;
  std::vector<bool> answered_;
  std::uint32_t seq_ = 0;
};

}  // namespace sipedge::proxy
