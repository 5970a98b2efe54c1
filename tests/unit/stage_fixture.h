// Runs the pipeline, or one stage, on raw messages without sockets: a WorkerEnv with fixed addresses.
// Phones are 192.0.2.x (access), the PBX is 10.0.0.2:5080 (core), a carrier is 203.0.113.9 (carrier);
// sipedge listens on 198.51.100.1:5060 UDP+TCP, internal 10.0.0.1:5070.
#pragma once

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "conf/config.h"
#include "proxy/context.h"
#include "proxy/pipeline.h"
#include "proxy/route_token.h"
#include "proxy/stages/stages.h"

namespace sipedge::test {

inline std::string readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::string dataFile(const std::string& rel) {
  return readFile(std::string(SIPEDGE_SOURCE_DIR) + "/tests/data/" + rel);
}

class StageFixture {
 public:
  StageFixture() {
    cfg = conf::parseConfig(R"(
[server]
workers = 1
[[listen]]
transport = "udp"
address = "198.51.100.1"
port = 5060
[[listen]]
transport = "tcp"
address = "198.51.100.1"
port = 5060
[internal]
address = "10.0.0.1"
port_base = 5070
[pbx]
targets = ["udp:10.0.0.2:5080", "udp:10.0.0.3:5080"]
[[carrier]]
name = "trunk"
target = "udp:203.0.113.9:5060"
)",
                            "fixture.toml");
    zones = std::make_unique<proxy::ZoneTable>(*cfg);
    auto ip = [](const char* s) { return boost::asio::ip::make_address(s); };
    pbx = std::make_unique<proxy::PbxHealth>(std::vector<proxy::Endpoint>{
        {proxy::Transport::Udp, ip("10.0.0.2"), 5080}, {proxy::Transport::Udp, ip("10.0.0.3"), 5080}});
    env.cfg = cfg;
    env.zones = zones.get();
    env.pbx = pbx.get();
    proxy::RouteToken::Key key{};
    key.fill(7);
    tokens = std::make_unique<proxy::RouteToken>(key);
    env.tokens = tokens.get();
    env.local.publics = {{proxy::Transport::Udp, ip("198.51.100.1"), 5060},
                         {proxy::Transport::Tcp, ip("198.51.100.1"), 5060}};
    env.local.internalUdp = {proxy::Transport::Udp, ip("10.0.0.1"), 5070};
    env.local.internalTcp = {proxy::Transport::Tcp, ip("10.0.0.1"), 5070};
    env.local.everyInternal = {env.local.internalUdp, env.local.internalTcp};
    pipeline = proxy::Pipeline::build(*cfg);
  }

  struct Result {
    proxy::Action verdict = proxy::Action::Drop;
    proxy::Reason reason = proxy::Reason::None;
    std::string reply;      // local response, if any
    std::string forwarded;  // the message as it would leave (with our Via on a request)
    std::optional<proxy::Endpoint> target;
    proxy::Zone targetZone = proxy::Zone::Access;
    bool parsed = false;
  };

  // The socket a message from `src` arrives on: the public UDP or TCP listener, or the internal socket for the PBX.
  proxy::SocketId inFor(const proxy::Endpoint& src) const {
    proxy::SocketId in;
    in.kind = proxy::SocketId::Kind::Public;
    in.index = src.transport == proxy::Transport::Tcp ? 1 : 0;
    in.transport = src.transport;
    if (zones->classify(src.addr) == proxy::Zone::Core) in.kind = proxy::SocketId::Kind::Internal;
    return in;
  }

  // The whole pipeline, as the worker runs it.
  Result run(const std::string& raw, const proxy::Endpoint& src) {
    Result r;
    proxy::Context ctx(raw, src, inFor(src), env);
    proxy::Verdict v = pipeline.process(ctx);
    r.verdict = v.action;
    r.reason = v.reason;
    r.parsed = ctx.m.valid();
    r.reply = ctx.reply;
    r.target = ctx.target;
    r.targetZone = ctx.targetZone;
    if (v.action == proxy::Action::Continue) r.forwarded = ctx.wire;
    return r;
  }

  // A message parsed into a Context, for one stage at a time: `ctx` is what the Parser stage would hand on.
  struct Parsed {
    Parsed(StageFixture& f, std::string text, const proxy::Endpoint& from)
        : raw(std::move(text)), src(from), ctx(raw, src, f.inFor(src), f.env) {
      ctx.m = proxy::SipMessage::parse(raw.data(), raw.size());
    }
    // The message as it would be encoded now.
    std::string encoded() {
      std::string out;
      ctx.m.serialize(out);
      return out;
    }
    std::string raw;
    proxy::Endpoint src;
    proxy::Context ctx;
  };

  // A test message with every "@DST@" replaced by a sealed token for `e` (default: the phone 192.0.2.10:5062).
  std::string withDst(std::string m) const { return withDst(std::move(m), phone()); }
  std::string withDst(std::string m, const proxy::Endpoint& e) const {
    for (auto p = m.find("@DST@"); p != std::string::npos; p = m.find("@DST@")) m.replace(p, 5, tokens->seal(e));
    return m;
  }
  // The endpoint sealed in the first dst= parameter after `from` in `text`, as "udp:ip:port", or "".
  std::string dstIn(const std::string& text, std::size_t from = 0) const {
    auto p = text.find("dst=", from);
    if (p == std::string::npos) return "";
    auto e = text.find_first_of(";>", p);
    auto ep = tokens->open(text.substr(p + 4, e - p - 4));
    return ep ? ep->text() : "(bad token)";
  }

  static proxy::Endpoint phone(const char* ip = "192.0.2.10", std::uint16_t port = 5062,
                               proxy::Transport t = proxy::Transport::Udp) {
    return {t, boost::asio::ip::make_address(ip), port};
  }
  static proxy::Endpoint pbxAddr() { return {proxy::Transport::Udp, boost::asio::ip::make_address("10.0.0.2"), 5080}; }

  std::shared_ptr<const conf::Config> cfg;
  std::unique_ptr<proxy::ZoneTable> zones;
  std::unique_ptr<proxy::PbxHealth> pbx;
  std::unique_ptr<proxy::RouteToken> tokens;
  proxy::WorkerEnv env;
  proxy::Pipeline pipeline;
};

}  // namespace sipedge::test
