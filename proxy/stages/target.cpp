// The routing chain's choice of next hop (TargetSelector) and the routes sipedge writes (RecordRouter).
#include "proxy/sip_util.h"
#include "stages.h"

namespace sipedge::proxy {

namespace {

Verdict toPbx(Context& ctx) {
  int i = ctx.env.pbx->active();
  if (i < 0) {
    ctx.env.counters.noPbx.inc();
    return ctx.answer(503, "Service Unavailable", Reason::NoPbx, "Retry-After: 5\r\n");
  }
  ctx.target = ctx.env.pbx->targets()[static_cast<std::size_t>(i)];
  ctx.targetZone = Zone::Core;
  return Verdict::next();
}

// Sends the request to a next hop that is a strict router: the Request-URI goes to the end of the Route set
// and the hop's URI becomes the Request-URI (RFC 3261 §16.6 step 6).
bool strictRouteRewrite(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  const char* ruri = url_as_string(ctx.m.home(), sip->sip_request->rq_url);  // in the message's home
  if (!ruri) return false;
  std::string tail = std::string("<") + ruri + ">";
  return ctx.m.setRequestUri(sip->sip_route->r_url) && ctx.m.removeFirst(sip_route_class) &&
         ctx.m.add(sip_route_class, tail);
}

Verdict toRouteSet(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  auto e = uriEndpoint(sip->sip_route->r_url);
  if (!e) {
    return ctx.answer(478, "Unresolvable Destination", Reason::Unresolvable);
  }
  if (!url_has_param(sip->sip_route->r_url, "lr") && !strictRouteRewrite(ctx)) {
    return ctx.answer(500, "Server Internal Error", Reason::InternalError);
  }
  ctx.target = *e;
  ctx.targetZone = ctx.env.zones->classify(e->addr);
  return Verdict::next();
}

}  // namespace

Verdict TargetSelector::onRequest(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  Verdict v = Verdict::next();
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
        ctx.target = ctx.env.zones->carrierTargets()[static_cast<std::size_t>(k)];
        ctx.targetZone = Zone::Carrier;
      } else if (e && !ctx.env.local.isUs(sip->sip_request->rq_url)) {
        ctx.target = *e;
        ctx.targetZone = ctx.env.zones->classify(e->addr);
      } else if (!ctx.env.zones->carrierTargets()
                      .empty()) {  // addressed to sipedge: an outbound call for the default trunk
        ctx.target = ctx.env.zones->carrierTargets().front();
        ctx.targetZone = Zone::Carrier;
      } else {
        return ctx.answer(404, "Not Found", Reason::NotFound);
      }
    }
  } else {
    // Access and carrier peers reach the core only: sipedge is no open relay.
    if (sip->sip_route) {
      auto e = uriEndpoint(sip->sip_route->r_url);
      if (!e || ctx.env.zones->classify(e->addr) != Zone::Core) {
        return ctx.answer(403, "Forbidden", Reason::Forbidden);
      }
      v = toRouteSet(ctx);
    } else {
      v = toPbx(ctx);
    }
  }
  if (!v.proceeds()) return v;
  ctx.out = ctx.env.local.outFor(*ctx.target, ctx.targetZone);
  return Verdict::next();
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
      return ctx.answer(500, "Server Internal Error", Reason::InternalError);
    }
    return Verdict::next();
  }
  if (!createsDialog(sip)) return Verdict::next();
  Endpoint in = ctx.env.local.local(ctx.in);
  Endpoint out = ctx.env.local.local(ctx.out);
  bool ok = ctx.m.insert(sip_record_route_class, ourUri(ctx, in, accessPeer));
  if (ok && !(in == out)) ok = ctx.m.insert(sip_record_route_class, ourUri(ctx, out, accessPeer));
  if (!ok) {
    return ctx.answer(500, "Server Internal Error", Reason::InternalError);
  }
  return Verdict::next();
}

}  // namespace sipedge::proxy
