#include <cstring>

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
    sip_request_t* rq = sip_request_create(ctx.m.home(), sip->sip_request->rq_method, sip->sip_request->rq_method_name,
                                           reinterpret_cast<url_string_t const*>(last->r_url), nullptr);
    if (!rq) {
      ctx.respond(500, "Server Internal Error");
      return Verdict::Stop;
    }
    msg_header_replace(ctx.m.msg(), reinterpret_cast<msg_pub_t*>(sip),
                       reinterpret_cast<msg_header_t*>(sip->sip_request), reinterpret_cast<msg_header_t*>(rq));
    msg_header_remove(ctx.m.msg(), reinterpret_cast<msg_pub_t*>(sip), reinterpret_cast<msg_header_t*>(last));
    ctx.poppedOurRoute = true;
  }
  while (sip->sip_route && ctx.env.local.isUs(sip->sip_route->r_url)) {
    keepDst(ctx, sip->sip_route->r_url);
    sip_route_remove(ctx.m.msg(), sip);
    ctx.poppedOurRoute = true;
  }
  return Verdict::Continue;
}

Verdict LocalResponder::onRequest(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  if (sip->sip_request->rq_method != sip_method_options) return Verdict::Continue;
  if (!hasNoFurtherRoute(ctx) || !ctx.env.local.isUs(sip->sip_request->rq_url)) return Verdict::Continue;
  ctx.respond(200, "OK",
              "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, REFER, INFO, MESSAGE, "
              "UPDATE, PRACK\r\nAccept: application/sdp\r\nSupported: path\r\n");
  return Verdict::Stop;
}

Verdict HopLimiter::onRequest(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  if (!sip->sip_max_forwards) {
    ctx.m.insert(sip_max_forwards_class, "70");
    return Verdict::Continue;
  }
  if (sip->sip_max_forwards->mf_count == 0) {
    ctx.env.counters.tooManyHops.inc();
    ctx.respond(483, "Too Many Hops");
    return Verdict::Stop;
  }
  unsigned long n = sip->sip_max_forwards->mf_count;
  if (n > 70) n = 70;  // a hostile peer's 2^31 hops cannot keep a loop alive
  sip->sip_max_forwards->mf_count = n - 1;
  msg_fragment_clear(sip->sip_max_forwards->mf_common);
  return Verdict::Continue;
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

std::string computeBranch(const Context& ctx) {
  const sip_t* sip = ctx.m.sip();
  const sip_via_t* v = sip->sip_via;
  Fnv64 tx;
  if (v->v_branch && std::strncmp(v->v_branch, "z9hG4bK", 7) == 0) {
    tx.add(v->v_branch).add(v->v_host).add(v->v_port);
  } else {  // RFC 2543 peer: derive the transaction from what identifies it
    tx.add(sip->sip_call_id->i_id).add(sip->sip_from->a_tag);
    tx.add(static_cast<std::uint64_t>(sip->sip_cseq->cs_seq)).add(v->v_host).add(v->v_port);
  }
  std::string b(kBranchPrefix);
  b.reserve(b.size() + 28);
  appendHex(b, ctx.env.worker, 2);
  appendHex(b, ctx.in.code(), 2);
  appendHex(b, tx.value(), 16);
  appendHex(b, ctx.loopHash, 8);
  return b;
}

Verdict LoopDetector::onRequest(Context& ctx) {
  ctx.loopHash = loopHash(ctx.m);
  char mine[9];
  std::snprintf(mine, sizeof mine, "%08x", ctx.loopHash);
  const std::size_t len = kBranchPrefix.size() + 4 + 16 + 8;
  for (const sip_via_t* v = ctx.m.sip()->sip_via; v; v = v->v_next) {
    if (!v->v_branch || std::strlen(v->v_branch) != len ||
        std::strncmp(v->v_branch, kBranchPrefix.data(), kBranchPrefix.size()) != 0)
      continue;
    if (std::strcmp(v->v_branch + len - 8, mine) != 0) continue;
    boost::asio::ip::address a;
    unsigned port = v->v_port ? static_cast<unsigned>(std::atoi(v->v_port)) : 5060;
    if (v->v_host && parseIp(v->v_host, a) && ctx.env.local.isUs(a, static_cast<std::uint16_t>(port))) {
      ctx.env.counters.loops.inc();
      ctx.respond(482, "Loop Detected");
      return Verdict::Stop;
    }
  }
  return Verdict::Continue;
}

}  // namespace sipedge::proxy
