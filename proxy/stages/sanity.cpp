#include "proxy/sip_util.h"
#include "stages.h"

#include <cstring>

namespace sipedge::proxy {

Verdict RequestSanity::onRequest(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  auto reject = [&](int code, std::string_view why, std::string_view extra = {}) {
    ctx.env.counters.badRequests.inc();
    ctx.respond(code, why, extra);
    return Verdict::Stop;
  };
  const sip_request_t* rq = sip->sip_request;
  if (!rq->rq_version || std::strcmp(rq->rq_version, "SIP/2.0") != 0) {
    return reject(505, "Version Not Supported");
  }
  if (!sip->sip_via) return reject(400, "Missing Via");
  if (!sip->sip_from) return reject(400, "Missing From");
  if (!sip->sip_to) return reject(400, "Missing To");
  if (!sip->sip_call_id) return reject(400, "Missing Call-ID");
  if (!sip->sip_cseq) return reject(400, "Missing CSeq");
  if (sip->sip_error || msg_has_error(ctx.m.msg())) {
    const char* bad = sip->sip_error && sip->sip_error->er_name ? sip->sip_error->er_name : "header";
    std::string why = "Bad ";
    why.append(bad, std::min<std::size_t>(std::strlen(bad), 40));
    for (auto& c : why)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return reject(400, why);
  }
  if (sip->sip_cseq->cs_method != rq->rq_method ||
      (rq->rq_method == sip_method_unknown &&
       std::strcmp(sip->sip_cseq->cs_method_name, rq->rq_method_name) != 0)) {
    return reject(400, "CSeq Does Not Match Method");
  }
  if (sip->sip_content_length && sip->sip_payload &&
      sip->sip_payload->pl_len != sip->sip_content_length->l_length) {
    return reject(400, "Bad Content-Length");
  }
  if (sip->sip_content_length && !sip->sip_payload && sip->sip_content_length->l_length != 0) {
    return reject(400, "Bad Content-Length");
  }
  auto scheme = rq->rq_url->url_type;
  if (scheme != url_sip && scheme != url_sips && scheme != url_tel) {
    return reject(416, "Unsupported URI Scheme");
  }
  if (sip->sip_proxy_require) {
    std::string unsupported = "Unsupported: ";
    const msg_param_t* items = sip->sip_proxy_require->k_items;
    for (int i = 0; items && items[i]; ++i) {
      if (i) unsupported += ", ";
      unsupported += items[i];
    }
    unsupported += "\r\n";
    return reject(420, "Bad Extension", unsupported);
  }
  return Verdict::Continue;
}

Verdict NatFixer::onRequest(Context& ctx) {
  sip_via_t* v = ctx.m.sip()->sip_via;
  std::string ip = ctx.source.addr.to_string();
  bool hostIsSource = false;
  boost::asio::ip::address a;
  if (v->v_host && parseIp(v->v_host, a)) hostIsSource = a == ctx.source.addr;
  // RFC 3581 §4: with rport, received is always added.
  if (v->v_rport || ctx.source.transport == Transport::Tcp) {  // TCP: rport names the connection
    std::string rport = "rport=" + std::to_string(ctx.source.port);
    // sofia keeps the parameter pointer: the text must live in the message's home.
    msg_header_replace_param(ctx.m.home(), v->v_common, su_strdup(ctx.m.home(), rport.c_str()));
    msg_header_replace_param(ctx.m.home(), v->v_common, su_strdup(ctx.m.home(), ("received=" + ip).c_str()));
  } else if (!hostIsSource) {
    msg_header_replace_param(ctx.m.home(), v->v_common, su_strdup(ctx.m.home(), ("received=" + ip).c_str()));
  } else {
    return Verdict::Continue;
  }
  msg_fragment_clear(v->v_common);
  return Verdict::Continue;
}

}  // namespace sipedge::proxy
