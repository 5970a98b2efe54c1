#include <cctype>
#include <cstring>

// The ingress chain: what every received message passes before any routing decision.
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

Verdict ByteGuard::onReceived(Context& ctx) {
  const auto& cfg = *ctx.env.cfg;
  std::string_view raw = ctx.raw;
  auto& counters = ctx.env.counters;
  // UDP keep-alives (CRLF, or a lone NUL some phones send): nothing to answer.
  if (raw.find_first_not_of(std::string_view("\r\n\0 ", 4)) == std::string_view::npos) {
    counters.keepalives.inc();
    return Verdict::drop(Reason::Keepalive);
  }
  if (raw.size() > cfg.maxMessageBytes) {
    counters.tooLarge.inc();
    return ctx.answerRaw(513, "Message Too Large", Reason::TooLarge);
  }
  auto headerEnd = raw.find("\r\n\r\n");
  // A datagram without the empty line after its headers is truncated (RFC 3261 §7): it cannot be forwarded
  // intact. TCP framing already guarantees the empty line.
  std::string_view head = raw.substr(0, headerEnd);
  if (head.size() > cfg.maxHeaderBytes) {
    counters.tooLarge.inc();
    return ctx.answerRaw(513, "Message Too Large", Reason::TooLarge);
  }
  bool smuggled = head.find('\0') != std::string_view::npos;
  // Every LF follows a CR and every CR precedes an LF: jump from one to the next with memchr, not byte by byte.
  for (std::size_t i = head.find('\n'); !smuggled && i != std::string_view::npos; i = head.find('\n', i + 1))
    smuggled = i == 0 || head[i - 1] != '\r';
  for (std::size_t i = head.find('\r'); !smuggled && i != std::string_view::npos; i = head.find('\r', i + 1))
    smuggled = i + 1 >= head.size() || head[i + 1] != '\n';
  if (headerEnd != std::string_view::npos && !smuggled) return Verdict::next();
  counters.parseErrors.inc();
  Verdict v = headerEnd == std::string_view::npos ? ctx.answerRaw(400, "Incomplete Message", Reason::Incomplete)
                                                  : ctx.answerRaw(400, "Bad Header Line", Reason::BadHeaderLine);
  (v.action == Action::Answer ? counters.badRequests : counters.droppedResponses).inc();
  return v;
}

Verdict Parser::onReceived(Context& ctx) {
  auto& counters = ctx.env.counters;
  ctx.m = SipMessage::parse(ctx.raw.data(), ctx.raw.size());
  if (!ctx.m.valid()) {
    counters.parseErrors.inc();
    Verdict v = ctx.answerRaw(400, "Bad Request", Reason::Unparseable);
    (v.action == Action::Answer ? counters.badRequests : counters.droppedResponses).inc();
    return v;
  }
  // A message handed over by another worker was counted where it arrived.
  if (!ctx.handedOver) (ctx.m.isRequest() ? counters.rxRequests : counters.rxResponses).inc();
  return Verdict::next();
}

Verdict Sanity::onRequest(Context& ctx) {
  sip_t* sip = ctx.m.sip();
  auto reject = [&](int code, std::string_view phrase, Reason why, std::string_view extra = {}) {
    ctx.env.counters.badRequests.inc();
    return ctx.answer(code, phrase, why, extra);
  };
  const sip_request_t* rq = sip->sip_request;
  if (!rq->rq_version || std::strcmp(rq->rq_version, "SIP/2.0") != 0) {
    return reject(505, "Version Not Supported", Reason::BadVersion);
  }
  if (!sip->sip_via) return reject(400, "Missing Via", Reason::MissingHeader);
  if (!sip->sip_from) return reject(400, "Missing From", Reason::MissingHeader);
  if (!sip->sip_to) return reject(400, "Missing To", Reason::MissingHeader);
  if (!sip->sip_call_id) return reject(400, "Missing Call-ID", Reason::MissingHeader);
  if (!sip->sip_cseq) return reject(400, "Missing CSeq", Reason::MissingHeader);
  if (!schemeWellFormed(rq->rq_url->url_scheme) || !hostWellFormed(rq->rq_url->url_host)) {
    return reject(400, "Bad Request-URI", Reason::BadRequestUri);
  }
  if (!uriCharsClean(rq->rq_url)) return reject(400, "Bad Request-URI", Reason::BadRequestUri);
  for (const sip_unknown_t* u = sip->sip_unknown; u; u = u->un_next)
    if (!isToken(u->un_name)) return reject(400, "Bad Header Name", Reason::BadHeaderName);
  // Headers escaped into the Request-URI are for the UAC building a request, never on the wire (§3.1.2.11).
  if (rq->rq_url->url_headers) return reject(400, "Headers in Request-URI", Reason::HeadersInUri);
  // The body is what Content-Length says: a datagram that holds less is truncated (RFC 3261 §18.3, RFC 4475
  // §3.1.2.2). Over TCP the framer cuts at Content-Length, so there the check never fires.
  if (sip->sip_content_length) {
    std::size_t body = sip->sip_payload ? sip->sip_payload->pl_len : 0;
    if (body != sip->sip_content_length->l_length) return reject(400, "Bad Content-Length", Reason::BadContentLength);
  }
  if (sip->sip_error || msg_has_error(ctx.m.msg())) {
    const char* bad = sip->sip_error ? errorName(sip->sip_error) : "header";
    std::string why = "Bad ";
    why.append(bad, std::min<std::size_t>(std::strlen(bad), 40));
    for (auto& c : why)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return reject(400, why, Reason::BadHeader);
  }
  if (sip->sip_cseq->cs_method != rq->rq_method ||
      (rq->rq_method == sip_method_unknown && std::strcmp(sip->sip_cseq->cs_method_name, rq->rq_method_name) != 0)) {
    return reject(400, "CSeq Does Not Match Method", Reason::CseqMismatch);
  }
  auto scheme = rq->rq_url->url_type;
  if (scheme != url_sip && scheme != url_sips && scheme != url_tel) {
    return reject(416, "Unsupported URI Scheme", Reason::UnsupportedScheme);
  }
  if (sip->sip_proxy_require) {
    std::string unsupported = "Unsupported: ";
    const msg_param_t* items = sip->sip_proxy_require->k_items;
    for (int i = 0; items && items[i]; ++i) {
      if (i) unsupported += ", ";
      unsupported += items[i];
    }
    unsupported += "\r\n";
    return reject(420, "Bad Extension", Reason::BadExtension, unsupported);
  }
  return Verdict::next();
}

Verdict Sanity::onResponse(Context& ctx) {
  const sip_t* sip = ctx.m.sip();
  const sip_status_t* st = sip->sip_status;
  bool ok = sip->sip_via && sip->sip_cseq && sip->sip_call_id && sip->sip_from && sip->sip_to && st->st_version &&
            std::strcmp(st->st_version, "SIP/2.0") == 0 && st->st_status >= 100 && st->st_status <= 699 &&
            !sip->sip_error && !msg_has_error(ctx.m.msg());
  if (ok) return Verdict::next();
  ctx.env.counters.droppedResponses.inc();
  return Verdict::drop(Reason::BadResponse);
}

Verdict NatFixer::onRequest(Context& ctx) {
  sip_via_t* v = ctx.m.sip()->sip_via;
  std::string ip = ipText(ctx.source.addr);
  bool hostIsSource = false;
  boost::asio::ip::address a;
  if (v->v_host && parseIp(v->v_host, a)) hostIsSource = a == ctx.source.addr;
  // RFC 3581 §4: with rport, received is always added.
  if (v->v_rport || ctx.source.transport == Transport::Tcp) {  // TCP: rport names the connection
    ctx.m.setParam(v, "rport=" + std::to_string(ctx.source.port));
    ctx.m.setParam(v, "received=" + ip);
  } else if (!hostIsSource) {
    ctx.m.setParam(v, "received=" + ip);
  }
  return Verdict::next();
}

}  // namespace sipedge::proxy
