#include <cctype>
#include <cstring>

#include "proxy/sip_util.h"
#include "stages.h"

namespace sipedge::proxy {

namespace {

// sofia lists a header it could not parse as an error header naming it, but a second copy of a single-valued
// header (CSeq, Call-ID...) as that header itself, whose bytes are no msg_error_t: ask its class instead.
const char* errorName(const msg_error_t* e) {
  const msg_hclass_t* hc = e->er_common->h_class;
  if (hc == sip_error_class) return e->er_name ? e->er_name : "header";
  return hc && hc->hc_name ? hc->hc_name : "header";
}

// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3261 §25.1). Anything else ("<sip", RFC 4475
// §3.1.2.7) is no URI at all: 400, not 416.
bool schemeWellFormed(const char* scheme) {
  if (!scheme || !std::isalpha(static_cast<unsigned char>(*scheme))) return false;
  for (const char* p = scheme; *p; ++p)
    if (!std::isalnum(static_cast<unsigned char>(*p)) && *p != '+' && *p != '-' && *p != '.') return false;
  return true;
}

// An IPv6 reference must hold an IPv6 address: sofia takes "[2001:db8:::192.0.2.1]", which only the RFC 3261
// ABNF bug allowed (RFC 5118 §4.10, fixed by RFC 5954).
bool hostWellFormed(const char* host) {
  if (!host || host[0] != '[') return true;
  boost::asio::ip::address a;
  return parseIp(host, a) && a.is_v6();
}

// URIs are ASCII without controls or spaces (RFC 3261 §25.1: anything else is %-escaped).
bool uriCharsClean(const url_t* u) {
  char buf[2048];
  issize_t n = url_e(buf, sizeof buf, u);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof buf) return false;
  for (issize_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(buf[i]);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

// token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~") (RFC 3261 §25.1).
bool isToken(const char* s) {
  if (!s || !*s) return false;
  for (; *s; ++s) {
    auto c = static_cast<unsigned char>(*s);
    if (!std::isalnum(c) && !std::strchr("-.!%*_+`'~", c)) return false;
  }
  return true;
}

}  // namespace

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
  if (!schemeWellFormed(rq->rq_url->url_scheme) || !hostWellFormed(rq->rq_url->url_host)) {
    return reject(400, "Bad Request-URI");
  }
  if (!uriCharsClean(rq->rq_url)) return reject(400, "Bad Request-URI");
  for (const sip_unknown_t* u = sip->sip_unknown; u; u = u->un_next)
    if (!isToken(u->un_name)) return reject(400, "Bad Header Name");
  // Headers escaped into the Request-URI are for the UAC building a request, never on the wire (§3.1.2.11).
  if (rq->rq_url->url_headers) return reject(400, "Headers in Request-URI");
  // The body is what Content-Length says: a datagram that holds less is truncated (RFC 3261 §18.3, RFC 4475
  // §3.1.2.2). Over TCP the framer cuts at Content-Length, so there the check never fires.
  if (sip->sip_content_length) {
    std::size_t body = sip->sip_payload ? sip->sip_payload->pl_len : 0;
    if (body != sip->sip_content_length->l_length) return reject(400, "Bad Content-Length");
  }
  if (sip->sip_error || msg_has_error(ctx.m.msg())) {
    const char* bad = sip->sip_error ? errorName(sip->sip_error) : "header";
    std::string why = "Bad ";
    why.append(bad, std::min<std::size_t>(std::strlen(bad), 40));
    for (auto& c : why)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return reject(400, why);
  }
  if (sip->sip_cseq->cs_method != rq->rq_method ||
      (rq->rq_method == sip_method_unknown && std::strcmp(sip->sip_cseq->cs_method_name, rq->rq_method_name) != 0)) {
    return reject(400, "CSeq Does Not Match Method");
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
  std::string ip = ipText(ctx.source.addr);
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
