#include "health.h"

#include <sodium.h>

#include <cstring>

#include "branch.h"
#include "log.h"
#include "sip_util.h"
#include "worker.h"

namespace sipedge::proxy {

HealthChecker::HealthChecker(Worker& w, PbxHealth& health)
    : w_(w),
      health_(health),
      timer_(w.ioc()),
      deadline_(w.ioc()),
      failures_(health.targets().size(), 0),
      answered_(health.targets().size(), true) {}

void HealthChecker::start() {
  seq_ = randombytes_random();  // not guessable from outside
  round();
}

void HealthChecker::round() {
  ++seq_;
  const auto& targets = health_.targets();
  for (std::size_t i = 0; i < targets.size(); ++i) {
    answered_[i] = false;
    SocketId out;
    out.kind = SocketId::Kind::Internal;
    out.transport = targets[i].transport;
    Endpoint local = w_.env_.local.local(out);
    std::string branch;
    PingBranch{static_cast<std::uint8_t>(i), seq_}.appendTo(branch);
    std::string t = targets[i].hostport();
    std::string tp = targets[i].transport == Transport::Tcp ? ";transport=tcp" : "";
    std::string msg =
        "OPTIONS sip:" + t + tp + " SIP/2.0\r\nVia: SIP/2.0/" + std::string(transportUpper(out.transport)) + " " +
        local.hostport() + ";branch=" + branch + "\r\nMax-Forwards: 70\r\nFrom: <sip:sipedge@" + local.hostport() +
        ">;tag=sehc\r\nTo: <sip:" + t + ">\r\nCall-ID: sehc-" + std::to_string(i) + "-" + std::to_string(seq_) +
        "@sipedge\r\nCSeq: " + std::to_string(seq_) + " OPTIONS\r\nUser-Agent: sipedge\r\nContent-Length: 0\r\n\r\n";
    w_.send(out, targets[i], std::move(msg));
  }
  deadline_.expires_after(w_.cfg().pingTimeout);
  deadline_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) judge();
  });
  timer_.expires_after(w_.cfg().pingInterval);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) round();
  });
}

void HealthChecker::judge() {
  for (std::size_t i = 0; i < failures_.size(); ++i) {
    if (answered_[i]) continue;
    if (++failures_[i] == w_.cfg().pingFailures && health_.up(i)) {
      health_.set(i, false);
      SE_WARN("pbx %s is down (%u pings unanswered)", health_.targets()[i].text().c_str(), failures_[i]);
    }
  }
}

bool HealthChecker::onResponse(const SipMessage& m, const Endpoint& src, SocketId in) {
  const sip_via_t* v = m.sip()->sip_via;
  if (!v || !PingBranch::looksLike(v->v_branch)) return false;
  auto b = PingBranch::parse(v->v_branch);
  if (!b) return true;
  unsigned idx = b->target;
  if (idx >= failures_.size() || b->round != seq_) return true;  // late answer to an old round
  if (in.kind != SocketId::Kind::Internal || src.addr != health_.targets()[idx].addr) return true;
  answered_[idx] = true;
  failures_[idx] = 0;
  if (!health_.up(idx)) {
    health_.set(idx, true);
    SE_WARN("pbx %s is up again", health_.targets()[idx].text().c_str());
  }
  return true;
}

}  // namespace sipedge::proxy
