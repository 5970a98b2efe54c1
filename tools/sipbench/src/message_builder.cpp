// RequestBuilder and ResponseBuilder implementation.
#include "message_builder.hpp"

#include <utility>

namespace sipbench {
namespace {

std::string makeSdp(const std::string& ip, std::string_view session, int port) {
  std::string s;
  s += "v=0\r\n";
  s += "o=" + std::string(session) + " 1 1 IN IP4 " + ip + "\r\n";
  s += "s=-\r\n";
  s += "c=IN IP4 " + ip + "\r\n";
  s += "t=0 0\r\n";
  s += "m=audio " + std::to_string(port) + " RTP/AVP 0 8 101\r\n";
  s += "a=rtpmap:0 PCMU/8000\r\n";
  s += "a=rtpmap:8 PCMA/8000\r\n";
  s += "a=rtpmap:101 telephone-event/8000\r\n";
  s += "a=sendrecv\r\n";
  return s;
}

}  // namespace

RequestBuilder::RequestBuilder(UacIdentity id) : id_(std::move(id)) {
  callee_uri_ = "sip:" + id_.callee + "@" + id_.domain;
  sdp_ = makeSdp(id_.local_ip, "sipbench", 40000);
}

void RequestBuilder::via(BufWriter& w, const TxnKey& k) const {
  w.put("Via: SIP/2.0/UDP ").put(id_.local_hostport).put(";branch=");
  writeBranch(w, k);
  w.put(";rport\r\n");
}

void RequestBuilder::userUri(BufWriter& w, uint64_t user) const {
  w.put("<sip:").put(id_.user_prefix).putUint(user).put('@').put(id_.domain).put('>');
}

void RequestBuilder::from(BufWriter& w, const TxnKey& k, uint64_t user) const {
  w.put("From: ");
  userUri(w, user);
  w.put(";tag=").putHex(k.worker).put('x').putHex(k.slot).put('x').putHex(k.gen).crlf();
}

void RequestBuilder::callId(BufWriter& w, const TxnKey& k) const {
  // The local port keeps Call-IDs of concurrent sipbench processes apart.
  w.put("Call-ID: ")
      .putHex(id_.run_id)
      .put('-')
      .putHex(k.worker)
      .put('-')
      .putHex(k.slot)
      .put('-')
      .putHex(k.gen)
      .put('@')
      .put(id_.local_hostport)
      .crlf();
}

void RequestBuilder::invite(BufWriter& w, const TxnKey& k, uint64_t user) const {
  w.put("INVITE ").put(callee_uri_).put(" SIP/2.0\r\n");
  via(w, k);
  w.put("Max-Forwards: 70\r\n");
  from(w, k, user);
  w.put("To: <").put(callee_uri_).put(">\r\n");
  callId(w, k);
  w.put("CSeq: 1 INVITE\r\n");
  w.put("Contact: <sip:").put(id_.user_prefix).putUint(user).put('@').put(id_.local_hostport).put(">\r\n");
  w.put("User-Agent: sipbench\r\n");
  w.put("Content-Type: application/sdp\r\n");
  w.put("Content-Length: ").putUint(sdp_.size()).put("\r\n\r\n").put(sdp_);
}

void RequestBuilder::registration(BufWriter& w, const TxnKey& k, uint64_t user) const {
  w.put("REGISTER sip:").put(id_.domain).put(" SIP/2.0\r\n");
  via(w, k);
  w.put("Max-Forwards: 70\r\n");
  from(w, k, user);
  w.put("To: ");
  userUri(w, user);
  w.crlf();
  callId(w, k);
  w.put("CSeq: 1 REGISTER\r\n");
  w.put("Contact: <sip:").put(id_.user_prefix).putUint(user).put('@').put(id_.local_hostport).put(">\r\n");
  w.put("Expires: ").putUint(id_.expires).crlf();
  w.put("User-Agent: sipbench\r\n");
  w.put("Content-Length: 0\r\n\r\n");
}

void RequestBuilder::options(BufWriter& w, const TxnKey& k, uint64_t user) const {
  w.put("OPTIONS ").put(callee_uri_).put(" SIP/2.0\r\n");
  via(w, k);
  w.put("Max-Forwards: 70\r\n");
  from(w, k, user);
  w.put("To: <").put(callee_uri_).put(">\r\n");
  callId(w, k);
  w.put("CSeq: 1 OPTIONS\r\n");
  w.put("Accept: application/sdp\r\n");
  w.put("User-Agent: sipbench\r\n");
  w.put("Content-Length: 0\r\n\r\n");
}

void RequestBuilder::ack2xx(BufWriter& w, const TxnKey& k, uint64_t user, const Dialog& d) const {
  w.put("ACK ").put(d.requestUri()).put(" SIP/2.0\r\n");
  via(w, k);
  w.put(d.routeLines());
  w.put("Max-Forwards: 70\r\n");
  from(w, k, user);
  w.put("To: ").put(d.to()).crlf();
  callId(w, k);
  w.put("CSeq: 1 ACK\r\n");
  w.put("Content-Length: 0\r\n\r\n");
}

void RequestBuilder::bye(BufWriter& w, const TxnKey& k, uint64_t user, const Dialog& d) const {
  w.put("BYE ").put(d.requestUri()).put(" SIP/2.0\r\n");
  via(w, k);
  w.put(d.routeLines());
  w.put("Max-Forwards: 70\r\n");
  from(w, k, user);
  w.put("To: ").put(d.to()).crlf();
  callId(w, k);
  w.put("CSeq: 2 BYE\r\n");
  w.put("User-Agent: sipbench\r\n");
  w.put("Content-Length: 0\r\n\r\n");
}

void RequestBuilder::ackFailure(BufWriter& w, const TxnKey& k, uint64_t user, std::string_view response_to) const {
  // RFC 3261 §17.1.1.3: same Request-URI, Call-ID, From, top Via and CSeq number as the INVITE.
  w.put("ACK ").put(callee_uri_).put(" SIP/2.0\r\n");
  via(w, k);
  w.put("Max-Forwards: 70\r\n");
  from(w, k, user);
  w.put("To: ").put(response_to).crlf();
  callId(w, k);
  w.put("CSeq: 1 ACK\r\n");
  w.put("Content-Length: 0\r\n\r\n");
}

uint64_t stableTag(std::string_view call_id, std::string_view from_tag) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (char c : call_id) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  h = (h ^ '/') * 1099511628211ull;
  for (char c : from_tag) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

ResponseBuilder::ResponseBuilder(UasIdentity id) : id_(std::move(id)) {
  sdp_ = makeSdp(id_.local_ip, "sipbench-uas", 50000);
}

void ResponseBuilder::registrarContacts(BufWriter& w, const SipMessage& req) const {
  const uint32_t default_expires = req.expires.value_or(3600);
  for (std::string_view hv : req.contacts) {
    forEachListElement(hv, [&](std::string_view e) {
      if (e == "*") return true;  // wildcard de-registration: nothing stays bound
      const NameAddr na = parseNameAddr(e);
      uint32_t expires = default_expires;
      if (const auto p = findParam(na.params, "expires")) expires = parseUint(*p).value_or(default_expires);
      if (expires == 0) return true;  // removed binding: not listed in the 200
      w.put("Contact: <").put(na.uri).put(">;expires=").putUint(expires).crlf();
      return true;
    });
  }
  for (std::string_view p : req.paths) w.put("Path: ").put(p).crlf();
}

void ResponseBuilder::build(BufWriter& w, const SipMessage& req, const ResponseSpec& spec) const {
  w.put("SIP/2.0 ").putUint(static_cast<uint64_t>(spec.code)).put(' ').put(spec.reason).crlf();
  for (std::string_view v : req.vias) w.put("Via: ").put(v).crlf();
  if (spec.record_route) {
    for (std::string_view rr : req.record_routes) w.put("Record-Route: ").put(rr).crlf();
  }
  w.put("From: ").put(req.from).crlf();
  w.put("To: ").put(req.to);
  if (spec.add_tag && tagOf(req.to).empty()) w.put(";tag=").putHex(stableTag(req.call_id, tagOf(req.from)));
  w.crlf();
  w.put("Call-ID: ").put(req.call_id).crlf();
  w.put("CSeq: ").putUint(req.cseq).put(' ');
  w.put(spec.cseq_method == Method::Unknown ? req.cseq_method_token : methodName(spec.cseq_method)).crlf();
  if (spec.contact) w.put("Contact: ").put(id_.contact).crlf();
  if (spec.registrar) registrarContacts(w, req);
  w.put("Server: sipbench\r\n");
  if (spec.sdp) {
    w.put("Content-Type: application/sdp\r\n");
    w.put("Content-Length: ").putUint(sdp_.size()).put("\r\n\r\n").put(sdp_);
  } else {
    w.put("Content-Length: 0\r\n\r\n");
  }
}

}  // namespace sipbench
