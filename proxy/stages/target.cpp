#include "capture_tap.h"
#include "proxy/sip_util.h"
#include "stages.h"

namespace sipedge::proxy {

namespace {

Verdict toPbx(Context& ctx) {
  int i = ctx.env.pbx->active();
  if (i < 0) {
    ctx.env.counters.noPbx.inc();
    ctx.respond(503, "Service Unavailable", "Retry-After: 5\r\n");
    return Verdict::Stop;
  }
  ctx.target = ctx.env.pbx->targets()[static_cast<std::size_t>(i)];
  ctx.targetZone = Zone::Core;
  return Verdict::Continue;
}

Endpoint carrierEndpoint(const conf::Carrier& c) {
  Endpoint e;
  e.transport = c.target.transport;
  e.addr = boost::asio::ip::make_address(c.target.address);
  e.port = c.target.port;
  return e;
}

// Sends the request to a next hop that is a strict router: the Request-URI goes to the end of the Route set
// and the hop's URI becomes the Request-URI (RFC 3261 §16.6 step 6).
bool strictRouteRewrite(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  sip_route_t* first = sip->sip_route;
  sip_route_t* tail = sip_route_create(ctx.m.home(), sip->sip_request->rq_url, nullptr);
  sip_request_t* rq = sip_request_create(ctx.m.home(), sip->sip_request->rq_method, sip->sip_request->rq_method_name,
                                         reinterpret_cast<url_string_t const*>(first->r_url), nullptr);
  if (!tail || !rq) return false;
  msg_header_replace(ctx.m.msg(), reinterpret_cast<msg_pub_t*>(sip), reinterpret_cast<msg_header_t*>(sip->sip_request),
                     reinterpret_cast<msg_header_t*>(rq));
  sip_route_remove(ctx.m.msg(), sip);
  msg_header_add_dup(ctx.m.msg(), reinterpret_cast<msg_pub_t*>(sip), reinterpret_cast<msg_header_t*>(tail));
  return true;
}

Verdict toRouteSet(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  auto e = uriEndpoint(sip->sip_route->r_url);
  if (!e) {
    ctx.respond(478, "Unresolvable Destination");
    return Verdict::Stop;
  }
  if (!url_has_param(sip->sip_route->r_url, "lr") && !strictRouteRewrite(ctx)) {
    ctx.respond(500, "Server Internal Error");
    return Verdict::Stop;
  }
  ctx.target = *e;
  ctx.targetZone = ctx.env.zones->classify(e->addr);
  return Verdict::Continue;
}

}  // namespace

Verdict TargetSelector::onRequest(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  const auto& cfg = *ctx.env.cfg;
  Verdict v = Verdict::Continue;
  if (ctx.sourceZone == Zone::Core) {
    if (ctx.routeDst) {  // a phone, reached through the Path or Record-Route we wrote
      ctx.target = *ctx.routeDst;
      ctx.targetZone = ctx.env.zones->classify(ctx.routeDst->addr);
    } else if (sip->sip_route) {
      v = toRouteSet(ctx);
    } else {
      auto e = uriEndpoint(sip->sip_request->rq_url);
      int k = e ? ctx.env.zones->carrierIndex(e->addr) : -1;
      if (k >= 0) {
        ctx.target = carrierEndpoint(cfg.carriers[static_cast<std::size_t>(k)]);
        ctx.targetZone = Zone::Carrier;
      } else if (e && !ctx.env.local.isUs(sip->sip_request->rq_url)) {
        ctx.target = *e;
        ctx.targetZone = ctx.env.zones->classify(e->addr);
      } else if (!cfg.carriers.empty()) {  // addressed to sipedge: an outbound call for the default trunk
        ctx.target = carrierEndpoint(cfg.carriers.front());
        ctx.targetZone = Zone::Carrier;
      } else {
        ctx.respond(404, "Not Found");
        return Verdict::Stop;
      }
    }
  } else {
    // Access and carrier peers reach the core only: sipedge is no open relay.
    if (sip->sip_route) {
      auto e = uriEndpoint(sip->sip_route->r_url);
      if (!e || ctx.env.zones->classify(e->addr) != Zone::Core) {
        ctx.respond(403, "Forbidden");
        return Verdict::Stop;
      }
      v = toRouteSet(ctx);
    } else {
      v = toPbx(ctx);
    }
  }
  if (v == Verdict::Stop) return v;
  ctx.out = ctx.env.local.outFor(*ctx.target, ctx.targetZone);
  return Verdict::Continue;
}

namespace {

bool createsDialog(const sip_t* sip) {
  if (sip->sip_to && sip->sip_to->a_tag) return false;
  switch (sip->sip_request->rq_method) {
    case sip_method_invite:
    case sip_method_subscribe:
    case sip_method_refer:
    case sip_method_notify:
      return true;
    default:
      return false;
  }
}

std::string ourUri(const Context& ctx, const Endpoint& local, const std::optional<Endpoint>& dst) {
  std::string u = "<sip:" + local.hostport();
  if (local.transport == Transport::Tcp) u += ";transport=tcp";
  u += ";lr";
  if (dst) u += ";dst=" + ctx.env.tokens->seal(*dst);
  u += ">";
  return u;
}

}  // namespace

Verdict RecordRouter::onRequest(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  std::optional<Endpoint> accessPeer;
  if (ctx.sourceZone == Zone::Access)
    accessPeer = ctx.source;
  else if (ctx.targetZone == Zone::Access)
    accessPeer = *ctx.target;

  if (sip->sip_request->rq_method == sip_method_register) {
    if (ctx.sourceZone == Zone::Access &&
        !ctx.m.insert(sip_path_class, ourUri(ctx, ctx.env.local.local(ctx.out), accessPeer))) {
      ctx.respond(500, "Server Internal Error");
      return Verdict::Stop;
    }
    return Verdict::Continue;
  }
  if (!createsDialog(sip)) return Verdict::Continue;
  Endpoint in = ctx.env.local.local(ctx.in);
  Endpoint out = ctx.env.local.local(ctx.out);
  bool ok = ctx.m.insert(sip_record_route_class, ourUri(ctx, in, accessPeer));
  if (ok && !(in == out)) ok = ctx.m.insert(sip_record_route_class, ourUri(ctx, out, accessPeer));
  if (!ok) {
    ctx.respond(500, "Server Internal Error");
    return Verdict::Stop;
  }
  return Verdict::Continue;
}

Verdict ResponseRouter::onResponse(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  auto drop = [&](const char* why) {
    ctx.env.counters.droppedResponses.inc();
    ctx.dropReason = why;
    return Verdict::Stop;
  };
  if (!sip->sip_via || !sip->sip_cseq || !sip->sip_call_id || !sip->sip_from || !sip->sip_to)
    return drop("missing mandatory header");
  const sip_status_t* st = sip->sip_status;
  if (!st->st_version || std::strcmp(st->st_version, "SIP/2.0") != 0 || st->st_status < 100 || st->st_status > 699)
    return drop("bad status line");
  if (sip->sip_error || msg_has_error(ctx.m.msg())) return drop("unparseable header");
  const sip_via_t* v = sip->sip_via;
  const std::size_t len = kBranchPrefix.size() + 4 + 16 + 8;
  if (!v->v_branch || std::strlen(v->v_branch) != len ||
      std::strncmp(v->v_branch, kBranchPrefix.data(), kBranchPrefix.size()) != 0)
    return drop("top Via branch is not ours");
  boost::asio::ip::address a;
  unsigned port = v->v_port ? static_cast<unsigned>(std::atoi(v->v_port)) : 5060;
  if (!v->v_host || !parseIp(v->v_host, a) || !ctx.env.local.isUs(a, static_cast<std::uint16_t>(port)))
    return drop("top Via sent-by is not ours");
  auto hex2 = [](const char* p) {
    auto nibble = [](char c) -> unsigned {
      if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
      if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
      if (c >= 'A' && c <= 'F') return static_cast<unsigned>(c - 'A' + 10);
      return 0;
    };
    return nibble(p[0]) << 4 | nibble(p[1]);
  };
  unsigned worker = hex2(v->v_branch + kBranchPrefix.size());
  unsigned code = hex2(v->v_branch + kBranchPrefix.size() + 2);
  auto sock = SocketId::fromCode(static_cast<std::uint8_t>(code), ctx.env.cfg->listen.size(), ctx.env.cfg->listen);
  if (!sock || !v->v_next) return drop("no Via to forward to");
  auto next = viaEndpoint(v->v_next);
  if (!next) return drop("next Via is not a numeric udp/tcp address");
  sip_via_remove(ctx.m.msg(), sip);
  ctx.target = *next;
  ctx.targetZone = ctx.env.zones->classify(next->addr);
  ctx.out = *sock;
  if (sock->transport != next->transport) ctx.out = ctx.env.local.outFor(*next, ctx.targetZone);
  ctx.ownerWorker = static_cast<int>(worker);
  return Verdict::Continue;
}

Pipeline makeRequestPipeline() {
  Pipeline p;
  p.add(std::make_unique<RequestSanity>());
  p.add(std::make_unique<NatFixer>());
  p.add(std::make_unique<RouteProcessor>());
  p.add(std::make_unique<LocalResponder>());
  p.add(std::make_unique<HopLimiter>());
  p.add(std::make_unique<LoopDetector>());
  p.add(std::make_unique<TargetSelector>());
  p.add(std::make_unique<RecordRouter>());
  p.add(std::make_unique<CaptureTap>());
  return p;
}

Pipeline makeResponsePipeline() {
  Pipeline p;
  p.add(std::make_unique<ResponseRouter>());
  p.add(std::make_unique<CaptureTap>());
  return p;
}

}  // namespace sipedge::proxy
