// The routing chain, apart from the target choice and Record-Route (target.cpp): local answers, hop limit,
// loops, the route set, our Via, and where a response goes.
#include <cstring>

#include "proxy/branch.h"
#include "proxy/health.h"
#include "proxy/sip_util.h"
#include "stages.h"

namespace sipedge::proxy {

namespace {

bool hasNoFurtherRoute(const Context& ctx) {
  return ctx.m.sip()->sip_route == nullptr;
}

void keepDst(Context& ctx, const url_t* u) {
  if (auto d = uriParam(u, "dst")) {
    if (auto e = ctx.env.tokens->open(*d)) ctx.routeDst = *e;
  }
}

}  // namespace

Verdict RouteProcessor::onRequest(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  url_t* ruri = sip->sip_request->rq_url;
  // A strict router put our Record-Route URI into the Request-URI; the real one is the last Route (§16.4).
  if (ctx.env.local.isUs(ruri) && url_has_param(ruri, "lr") && sip->sip_route) {
    keepDst(ctx, ruri);
    sip_route_t* last = sip->sip_route;
    while (last->r_next) last = last->r_next;
    if (!ctx.m.setRequestUri(last->r_url) || !ctx.m.remove(last))
      return ctx.answer(500, "Server Internal Error", Reason::InternalError);
  }
  while (sip->sip_route && ctx.env.local.isUs(sip->sip_route->r_url)) {
    keepDst(ctx, sip->sip_route->r_url);
    ctx.m.removeFirst(sip_route_class);
  }
  return Verdict::next();
}

Verdict LocalResponder::onRequest(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  if (sip->sip_request->rq_method != sip_method_options) return Verdict::next();
  if (!hasNoFurtherRoute(ctx) || !ctx.env.local.isUs(sip->sip_request->rq_url)) return Verdict::next();
  return ctx.answer(200, "OK", Reason::OptionsAnswered,
                    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, REFER, INFO, MESSAGE, "
                    "UPDATE, PRACK\r\nAccept: application/sdp\r\nSupported: path\r\n");
}

Verdict HopLimiter::onRequest(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  if (!sip->sip_max_forwards) {
    ctx.m.insert(sip_max_forwards_class, "70");
    return Verdict::next();
  }
  if (sip->sip_max_forwards->mf_count == 0) {
    ctx.env.counters.tooManyHops.inc();
    return ctx.answer(483, "Too Many Hops", Reason::TooManyHops);
  }
  unsigned long n = sip->sip_max_forwards->mf_count;
  if (n > 70) n = 70;  // a hostile peer's 2^31 hops cannot keep a loop alive
  sip->sip_max_forwards->mf_count = n - 1;
  SipMessage::changed(sip->sip_max_forwards);
  return Verdict::next();
}

std::uint32_t loopHash(const SipMessage& m) {
  const sip_t* sip = m.sip();
  Fnv64 h;
  char buf[1024];
  url_e(buf, sizeof buf, sip->sip_request->rq_url);
  buf[sizeof buf - 1] = 0;
  h.add(std::string_view(buf));
  // No To tag: the ACK for a non-2xx response carries one the INVITE had not, and must get the INVITE's branch.
  h.add(sip->sip_from ? sip->sip_from->a_tag : nullptr);
  h.add(sip->sip_call_id ? sip->sip_call_id->i_id : nullptr);
  h.add(static_cast<std::uint64_t>(sip->sip_cseq ? sip->sip_cseq->cs_seq : 0));
  for (const sip_route_t* r = sip->sip_route; r; r = r->r_next) {
    url_e(buf, sizeof buf, r->r_url);
    buf[sizeof buf - 1] = 0;
    h.add(std::string_view(buf));
  }
  return static_cast<std::uint32_t>(h.value() ^ (h.value() >> 32));
}

Verdict LoopDetector::onRequest(Context& ctx) {
  ctx.loopHash = loopHash(ctx.m);
  for (const sip_via_t* v = ctx.m.sip()->sip_via; v; v = v->v_next) {
    auto b = ourVia(v, ctx.env.local);
    if (b && b->loop == ctx.loopHash) {
      ctx.env.counters.loops.inc();
      return ctx.answer(482, "Loop Detected", Reason::Loop);
    }
  }
  return Verdict::next();
}

Verdict ViaAdder::onRequest(Context& ctx) {
  Branch b;
  b.worker = static_cast<std::uint8_t>(ctx.env.worker);
  b.socket = ctx.in.code();
  b.transaction = transactionHash(ctx.m.sip());
  b.loop = ctx.loopHash;
  std::string via = "SIP/2.0/";
  via += transportUpper(ctx.target->transport);
  via += ' ';
  via += ctx.env.local.local(ctx.out).hostport();
  via += ";branch=";
  b.appendTo(via);
  if (!ctx.m.insert(sip_via_class, via)) {
    ctx.env.counters.sendErrors.inc();
    return Verdict::drop(Reason::EncodeFailed);
  }
  return Verdict::next();
}

Verdict PingAnswers::onResponse(Context& ctx) {
  if (ctx.env.health && ctx.env.health->onResponse(ctx.m, ctx.source, ctx.in)) return Verdict::drop(Reason::PingAnswer);
  return Verdict::next();
}

Verdict ResponseRouter::onResponse(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  auto drop = [&](Reason why) {
    ctx.env.counters.droppedResponses.inc();
    return Verdict::drop(why);
  };
  const sip_via_t* v = sip->sip_via;
  auto b = ourVia(v, ctx.env.local);
  if (!b) return drop(Reason::NotOurs);
  auto sock = SocketId::fromCode(b->socket, ctx.env.cfg->listen);
  if (!sock || !v->v_next) return drop(Reason::NoNextHop);
  auto next = viaEndpoint(v->v_next);
  if (!next) return drop(Reason::NoNextHop);
  // The transaction belongs to another worker (it may hold the TCP connection or dialog state). A branch naming
  // a worker this process does not have (an earlier run with more workers) is handled here.
  if (b->worker != ctx.env.worker && b->worker < ctx.env.cfg->workers) {
    ctx.owner = b->worker;
    return {Action::HandOver, Reason::HandOver};
  }
  ctx.m.removeFirst(sip_via_class);
  ctx.target = *next;
  ctx.targetZone = ctx.env.zones->classify(next->addr);
  ctx.out = *sock;
  if (sock->transport != next->transport) ctx.out = ctx.env.local.outFor(*next, ctx.targetZone);
  return Verdict::next();
}

}  // namespace sipedge::proxy
