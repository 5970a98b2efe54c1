#include "context.h"

#include "sip_util.h"

namespace sipedge::proxy {

std::optional<SocketId> SocketId::fromCode(std::uint8_t c, const std::vector<conf::Listen>& l) {
  SocketId s;
  if (c == 0xFE || c == 0xFF) {
    s.kind = Kind::Internal;
    s.transport = c == 0xFE ? Transport::Udp : Transport::Tcp;
    return s;
  }
  if (c >= l.size()) return std::nullopt;
  s.kind = Kind::Public;
  s.index = c;
  s.transport = l[c].transport;
  return s;
}

Endpoint LocalSockets::local(const SocketId& s) const {
  if (s.kind == SocketId::Kind::Public && s.index < publics.size()) return publics[s.index];
  return s.transport == Transport::Udp ? internalUdp : internalTcp;
}

bool LocalSockets::isUs(const boost::asio::ip::address& a, std::uint16_t port) const {
  for (auto& e : publics)
    if (e.port == port && e.addr == a) return true;
  for (auto& e : everyInternal)
    if (e.port == port && e.addr == a) return true;
  return false;
}

bool LocalSockets::isUs(const url_t* u) const {
  if (!u || !u->url_host) return false;
  std::string_view host = u->url_host;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  boost::asio::ip::address a;
  if (!parseIp(host, a)) return false;
  std::optional<std::uint16_t> port = u->url_type == url_sips ? 5061 : 5060;
  if (u->url_port && *u->url_port) port = parsePort(u->url_port);
  return port && isUs(a, *port);
}

SocketId LocalSockets::outFor(const Endpoint& target, Zone zone) const {
  SocketId s;
  s.transport = target.transport;
  if (zone != Zone::Core) {
    for (std::size_t i = 0; i < publics.size(); ++i) {
      if (publics[i].transport == target.transport && publics[i].addr.is_v6() == target.addr.is_v6()) {
        s.kind = SocketId::Kind::Public;
        s.index = static_cast<std::uint8_t>(i);
        return s;
      }
    }
  }
  s.kind = SocketId::Kind::Internal;
  return s;
}

PbxHealth::PbxHealth(std::vector<Endpoint> targets)
    : targets_(std::move(targets)), up_(new std::atomic<bool>[targets_.size()]) {
  for (std::size_t i = 0; i < targets_.size(); ++i) up_[i].store(true);  // innocent until a ping goes unanswered
}

int PbxHealth::active() const {
  for (std::size_t i = 0; i < targets_.size(); ++i)
    if (up(i)) return static_cast<int>(i);
  return -1;
}

Verdict Context::answer(int status, std::string_view phrase, Reason why, std::string_view extra) {
  reply = makeResponse(m, status, phrase, extra);
  env.counters.localReplies.inc();
  return {Action::Answer, why};
}

Verdict Context::answerRaw(int status, std::string_view phrase, Reason why) {
  reply = makeRawResponse(raw, status, phrase);
  return {reply.empty() ? Action::Drop : Action::Answer, why};
}

}  // namespace sipedge::proxy
