// The SIP torture messages of RFC 4475 and the IPv6 ones of RFC 5118 (tests/data/rfc4475, tests/data/rfc5118),
// one test per file, each driven the way Worker::onMessage drives a datagram from a phone: the raw-byte guards,
// sofia's parse, then the request or response pipeline. Valid messages must come out intact; invalid ones must
// get the response the RFC names (or be dropped, for responses).
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "stage_fixture.h"

using namespace sipedge;
using namespace sipedge::test;

namespace {

// Forwarded: passes the pipeline and leaves intact. Rejected: answered `code`. Dropped: no answer (responses).
// Refused: a valid message that sipedge nevertheless answers `code`, by policy or a known parser limit (the
// reason says which); kept in the table so a change in that behaviour shows up here.
enum class Outcome { Forwarded, Rejected, Dropped, Refused };

// Where the message comes from. Phone: 192.0.2.10:5062/UDP (access zone; requests go to the PBX). Pbx: the PBX
// 10.0.0.2:5080 (core zone). Response: from the PBX, with the Via sipedge put on the request prepended, so it
// is a response sipedge has to route on.
enum class From { Phone, Pbx, Response };

struct Case {
  const char* file;  // under tests/data/
  Outcome outcome;
  int code;  // the status of the reply, for Rejected and Refused
  const char* reason;
  From from = From::Phone;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << c.file;
}

constexpr Outcome Fwd = Outcome::Forwarded;
constexpr Outcome Rej = Outcome::Rejected;
constexpr Outcome Drop = Outcome::Dropped;
constexpr Outcome Refused = Outcome::Refused;
constexpr From Pbx = From::Pbx;
constexpr From Resp = From::Response;

// clang-format off
const Case kCases[] = {
  // RFC 4475 §3.1.1: valid messages.
  {"rfc4475/wsinv.dat", Refused, 403, "3.1.1.1: well formed; its Route names a host outside the core (no open relay)"},
  {"rfc4475/intmeth.dat", Refused, 400, "3.1.1.2: valid; sofia's method token lacks + and `; the worker bars To's NUL"},
  {"rfc4475/esc01.dat", Fwd, 0, "3.1.1.3: valid %-escapes; unreserved ones may be unescaped (RFC 3261 §19.1.4)"},
  {"rfc4475/escnull.dat", Fwd, 0, "3.1.1.4: escaped NULs (%00) in URIs are valid and stay escaped"},
  {"rfc4475/esc02.dat", Fwd, 0, "3.1.1.5: % that is not an escape: RE%47IST%45R is an unknown method, not REGISTER"},
  {"rfc4475/lwsdisp.dat", Fwd, 0, "3.1.1.6: no LWS between display name and <"},
  {"rfc4475/longreq.dat", Fwd, 0, "3.1.1.7: long values, 34 Vias under short and long names"},
  {"rfc4475/dblreq.dat", Fwd, 0, "3.1.1.8: the REGISTER is processed, the INVITE after it in the datagram ignored"},
  {"rfc4475/semiuri.dat", Fwd, 0, "3.1.1.9: ; in the user part of the Request-URI"},
  {"rfc4475/transports.dat", Fwd, 0, "3.1.1.10: SCTP, TLS and unknown transports in lower Vias"},
  {"rfc4475/mpart01.dat", Fwd, 0, "3.1.1.11: multipart binary body (from the PBX: the Route leads to 127.0.0.1)", Pbx},
  {"rfc4475/unreason.dat", Fwd, 0, "3.1.1.12: UTF-8 reason phrase", Resp},
  {"rfc4475/noreason.dat", Fwd, 0, "3.1.1.13: empty reason phrase", Resp},
  // RFC 4475 §3.1.2: invalid messages.
  {"rfc4475/badinv01.dat", Rej, 400, "3.1.2.1: empty ;, and , elements in Via and Contact"},
  {"rfc4475/clerr.dat", Rej, 400, "3.1.2.2: Content-Length larger than the datagram"},
  {"rfc4475/ncl.dat", Rej, 400, "3.1.2.3: negative Content-Length"},
  {"rfc4475/scalar02.dat", Rej, 400, "3.1.2.4: CSeq beyond 2**32-1"},
  {"rfc4475/scalarlg.dat", Drop, 0, "3.1.2.5: a response with CSeq beyond 2**32-1 is dropped", Resp},
  {"rfc4475/quotbal.dat", Rej, 400, "3.1.2.6: unterminated quoted string in the To display name"},
  {"rfc4475/ltgtruri.dat", Rej, 400, "3.1.2.7: Request-URI enclosed in <>: 400, not 416"},
  {"rfc4475/lwsruri.dat", Rej, 400, "3.1.2.8: LWS inside the Request-URI"},
  {"rfc4475/lwsstart.dat", Fwd, 0, "3.1.2.9: a proxy may ignore the extra SPs if it forwards single ones"},
  {"rfc4475/trws.dat", Fwd, 0, "3.1.2.10: a proxy may ignore the trailing SP if it does not forward it"},
  {"rfc4475/escruri.dat", Rej, 400, "3.1.2.11: escaped headers in the Request-URI"},
  {"rfc4475/baddate.dat", Rej, 400, "3.1.2.12: non-GMT Date; rejecting is acceptable, and sofia would drop the header"},
  {"rfc4475/regbadct.dat", Rej, 400, "3.1.2.13: Contact URI with a header but without <>"},
  {"rfc4475/badaspec.dat", Fwd, 0, "3.1.2.14: a proxy may ignore the spaces inside <> (they are not forwarded)"},
  {"rfc4475/baddn.dat", Rej, 400, "3.1.2.15: non-token display names without quotes"},
  {"rfc4475/badvers.dat", Rej, 505, "3.1.2.16: SIP/7.0 gets 505"},
  {"rfc4475/mismatch01.dat", Rej, 400, "3.1.2.17: OPTIONS with CSeq method INVITE"},
  {"rfc4475/mismatch02.dat", Rej, 400, "3.1.2.18: unknown method with CSeq method INVITE"},
  {"rfc4475/bigcode.dat", Drop, 0, "3.1.2.19: a response code of 4294967301 is dropped", Resp},
  // RFC 4475 §3.2: transaction layer.
  {"rfc4475/badbranch.dat", Fwd, 0, "3.2.1: branch=z9hG4bK alone; an element may fall back to RFC 2543 matching"},
  // RFC 4475 §3.3: application layer.
  {"rfc4475/insuf.dat", Rej, 400, "3.3.1: no Call-ID, From, To or Max-Forwards"},
  {"rfc4475/unkscm.dat", Rej, 416, "3.3.2: unknown Request-URI scheme"},
  {"rfc4475/novelsc.dat", Rej, 416, "3.3.3: soap.beep Request-URI, a scheme sipedge does not serve"},
  {"rfc4475/unksm2.dat", Fwd, 0, "3.3.4: unknown schemes in To/From/Contact; proxies treat it as any request"},
  {"rfc4475/bext01.dat", Rej, 420, "3.3.5: Proxy-Require options sipedge lacks: 420 listing them in Unsupported"},
  {"rfc4475/invut.dat", Fwd, 0, "3.3.6: unknown Content-Type is the UAS's business (415), not the proxy's"},
  {"rfc4475/regaut01.dat", Fwd, 0, "3.3.7: unknown Authorization scheme is the registrar's business"},
  {"rfc4475/multi01.dat", Rej, 400, "3.3.8: two CSeq, Call-ID, From, To and Max-Forwards"},
  {"rfc4475/mcl01.dat", Rej, 400, "3.3.9: two Content-Length values"},
  {"rfc4475/bcast.dat", Fwd, 0, "3.3.10: routed by the next Via (192.0.2.198), never to 255.255.255.255", Resp},
  {"rfc4475/zeromf.dat", Rej, 483, "3.3.11: Max-Forwards 0 at a proxy"},
  {"rfc4475/cparam01.dat", Fwd, 0, "3.3.12: Contact header parameter"},
  {"rfc4475/cparam02.dat", Fwd, 0, "3.3.13: Contact URI parameter"},
  {"rfc4475/regescrt.dat", Fwd, 0, "3.3.14: escaped Route header inside a <> Contact URI is legal"},
  {"rfc4475/sdp01.dat", Fwd, 0, "3.3.15: an Accept the UAS cannot satisfy is the UAS's business (406)"},
  // RFC 4475 §3.4: backward compatibility.
  {"rfc4475/inv2543.dat", Fwd, 0, "3.4.1: RFC 2543 syntax (no branch, no Max-Forwards)"},
  // Not described in RFC 4475's text, but part of its archive.
  {"rfc4475/test.dat", Rej, 400, "archive extra: Request-Line without SIP-Version, a line that is no header"},
  // RFC 5118: IPv6.
  {"rfc5118/ipv6-good.dat", Fwd, 0, "4.1: IPv6 reference in the Request-URI"},
  {"rfc5118/ipv6-bad.dat", Rej, 400, "4.2: IPv6 address without [] in the Request-URI"},
  {"rfc5118/port-ambiguous.dat", Fwd, 0, "4.3: [2001:db8::10:5070] is a valid address without a port"},
  {"rfc5118/port-unambiguous.dat", Fwd, 0, "4.4: [2001:db8::10]:5070"},
  {"rfc5118/via-received-param-with-delim.dat", Fwd, 0, "4.5: received=[v6]; robust parsers accept it"},
  {"rfc5118/via-received-param-no-delim.dat", Fwd, 0, "4.5: received=v6 without []"},
  {"rfc5118/ipv6-in-sdp.dat", Fwd, 0, "4.6: IPv6 in the SDP body"},
  {"rfc5118/mult-ip-in-header.dat", Fwd, 0, "4.7: IPv4 and IPv6 Vias"},
  {"rfc5118/mult-ip-in-sdp.dat", Fwd, 0, "4.8: IPv4 and IPv6 in the SDP body"},
  {"rfc5118/ipv4-mapped-ipv6.dat", Fwd, 0, "4.9: IPv4-mapped IPv6 addresses"},
  {"rfc5118/ipv6-bug-abnf-3-colons.dat", Rej, 400, "4.10: three colons are no IPv6 address (RFC 5954)"},
  {"rfc5118/ipv6-correct-abnf-2-colons.dat", Fwd, 0, "4.10: the correct two-colon form"},
};
// clang-format on

// ---------------------------------------------------------------- the worker's decision, without sockets

struct Result {
  Outcome outcome = Outcome::Dropped;
  int code = 0;
  std::string reply;
  std::string forwarded;
  StageFixture::Result pipeline;
};

int statusOf(std::string_view reply) {
  if (!reply.starts_with("SIP/2.0 ") || reply.size() < 11) return 0;
  return std::atoi(std::string(reply.substr(8, 3)).c_str());
}

// Mirrors Worker::onMessage: NUL or bare CR/LF in the header block is refused before sofia sees it; what sofia
// cannot parse gets a raw 400 when it looks like a request and is dropped otherwise.
Result drive(StageFixture& f, const std::string& raw, const proxy::Endpoint& src) {
  Result r;
  r.pipeline = f.run(raw, src);
  if (r.pipeline.verdict == proxy::Action::Continue) {
    r.outcome = Outcome::Forwarded;
    r.forwarded = r.pipeline.forwarded;
  } else {
    r.reply = r.pipeline.reply;
    r.outcome = r.reply.empty() ? Outcome::Dropped : Outcome::Rejected;
    r.code = statusOf(r.reply);
  }
  return r;
}

// The Via sipedge's internal UDP socket (10.0.0.1:5070) put on the request this answers: worker 00, socket FE.
const char* kOurVia = "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKse00fe0123456789abcdef01234567\r\n";

std::string withOurVia(const std::string& response) {
  auto eol = response.find("\r\n");
  return response.substr(0, eol + 2) + kOurVia + response.substr(eol + 2);
}

}  // namespace

// ---------------------------------------------------------------- header-by-header comparison

namespace {

struct Field {
  std::string name;   // canonical: lower case, compact forms expanded
  std::string value;  // unfolded, runs of LWS collapsed to one SP, trimmed
};

struct Parts {
  std::string startLine;
  std::vector<Field> fields;
  std::string body;
};

std::string canonicalName(std::string_view n) {
  std::string s;
  for (char c : n) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<const char*, const char*> kCompact[] = {{"v", "via"},          {"f", "from"},
                                                                 {"t", "to"},           {"i", "call-id"},
                                                                 {"m", "contact"},      {"l", "content-length"},
                                                                 {"c", "content-type"}, {"s", "subject"},
                                                                 {"k", "supported"},    {"e", "content-encoding"},
                                                                 {"o", "event"},        {"u", "allow-events"}};
  for (auto& [k, full] : kCompact)
    if (s == k) return full;
  return s;
}

std::string collapse(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// Splits a message into start line, unfolded header fields and body (the body as Content-Length bounds it).
Parts split(std::string_view msg) {
  Parts p;
  auto end = msg.find("\r\n\r\n");
  std::string_view head = msg.substr(0, end);
  std::string_view rest = end == std::string_view::npos ? std::string_view() : msg.substr(end + 4);
  auto eol = head.find("\r\n");
  p.startLine = std::string(head.substr(0, eol));
  std::vector<std::string> lines;
  for (std::size_t pos = eol == std::string_view::npos ? head.size() : eol + 2; pos < head.size();) {
    auto e = head.find("\r\n", pos);
    if (e == std::string_view::npos) e = head.size();
    auto line = head.substr(pos, e - pos);
    if (!lines.empty() && !line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      lines.back() += ' ';
      lines.back() += line;
    } else {
      lines.emplace_back(line);
    }
    pos = e + 2;
  }
  std::optional<std::size_t> length;
  for (auto& l : lines) {
    auto colon = l.find(':');
    Field f{canonicalName(collapse(l.substr(0, colon))),
            collapse(l.substr(colon == std::string::npos ? l.size() : colon + 1))};
    if (f.name == "content-length" && !length)
      length = static_cast<std::size_t>(std::strtoul(f.value.c_str(), nullptr, 10));
    p.fields.push_back(std::move(f));
  }
  p.body = std::string(rest.substr(0, length.value_or(rest.size())));
  return p;
}

// Splits a header value at commas outside quotes and <>, so "Via: a, b" and two Via lines compare equal.
std::vector<std::string> splitValues(const std::string& v) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  int angle = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (quoted && c == '\\' && i + 1 < v.size()) {
      cur += c;
      cur += v[++i];
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && c == '<') ++angle;
    if (!quoted && c == '>') --angle;
    if (c == ',' && !quoted && angle == 0) {
      out.push_back(collapse(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  out.push_back(collapse(cur));
  return out;
}

std::vector<std::string> valuesOf(const Parts& p, const std::string& name) {
  std::vector<std::string> out;
  for (auto& f : p.fields)
    if (f.name == name)
      for (auto& v : splitValues(f.value)) out.push_back(v);
  return out;
}

bool unreserved(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-_.!~*'()", c) != nullptr;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

// One spelling for equivalent values (RFC 3261 §19.1.4, §25.1): %XX of an unreserved character is that character
// (once, never recursively: %25%34%31 is "%41", not "A"); LWS next to a separator is no LWS. Quoted strings stay
// as they are.
std::string normalized(std::string_view v) {
  std::string out;
  bool quoted = false;
  auto separator = [](char c) { return c != 0 && std::strchr("<>;=,:/@?&\"", c) != nullptr; };
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (quoted) {
      out += c;
      if (c == '\\' && i + 1 < v.size())
        out += v[++i];
      else if (c == '"')
        quoted = false;
      continue;
    }
    if (c == '"') quoted = true;
    if (c == ' ') {
      char next = i + 1 < v.size() ? v[i + 1] : 0;
      if (!out.empty() && !separator(out.back()) && !separator(next)) out += ' ';
      continue;
    }
    if (c == '%' && i + 2 < v.size() && hexValue(v[i + 1]) >= 0 && hexValue(v[i + 2]) >= 0) {
      char d = static_cast<char>(hexValue(v[i + 1]) * 16 + hexValue(v[i + 2]));
      if (unreserved(d)) {
        out += d;
      } else {
        out += '%';
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(v[i + 1])));
        out += static_cast<char>(std::toupper(static_cast<unsigned char>(v[i + 2])));
      }
      i += 2;
      continue;
    }
    out += c;
  }
  return out;
}

std::string noSpace(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != ' ') out += c;
  return out;
}

bool namesUs(const std::string& v) {
  return v.find("198.51.100.1") != std::string::npos || v.find("10.0.0.1") != std::string::npos;
}

// The edits a proxy makes: received/rport on the top Via (RFC 3261 §18.2.1, RFC 3581), Max-Forwards minus one
// (§16.6 step 3), our own Record-Route/Path entries on top and our Route entries removed (§16.4, §16.6 step 4).
const char* const kProxyEdited[] = {"via", "max-forwards", "record-route", "route", "path"};

bool isProxyEdited(const std::string& name) {
  for (auto* n : kProxyEdited)
    if (name == n) return true;
  return false;
}

// The top Via with received= and rport's value taken out (they are ours to set), LWS removed.
std::string viaWithoutOurParams(const std::string& via) {
  std::string s = noSpace(via), out;
  std::size_t pos = 0;
  bool first = true;
  while (pos <= s.size()) {
    auto semi = s.find(';', pos);
    std::string part = s.substr(pos, semi == std::string::npos ? std::string::npos : semi - pos);
    pos = semi == std::string::npos ? s.size() + 1 : semi + 1;
    std::string lower = part;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!first && lower.starts_with("received")) continue;
    if (!first && lower.starts_with("rport")) part = "rport";
    if (!first) out += ';';
    out += part;
    first = false;
  }
  return out;
}

// Checks `out` carries what `in` carried: same start line (requests), same body, the same header fields in the
// same order, and for the headers a proxy edits, only the edits a proxy makes.
::testing::AssertionResult forwardedIntact(const std::string& in, const std::string& out, bool request) {
  Parts a = split(in), b = split(out);
  // A request line leaves with single SPs (RFC 4475 §3.1.2.9-10); a status line exactly as it came. Toward a
  // strict router the Request-URI becomes that router's URI and moves to the end of the Route set (§16.6 step 6).
  std::string startLine = request ? collapse(a.startLine) : a.startLine;
  std::vector<std::string> routes;
  for (auto& v : valuesOf(a, "route"))
    if (!namesUs(v)) routes.push_back(normalized(v));
  if (request && !routes.empty() && routes[0].find(";lr") == std::string::npos) {
    auto sp1 = startLine.find(' '), sp2 = startLine.rfind(' ');
    std::string ruri = startLine.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string next = routes[0].substr(routes[0].find('<') + 1);
    next = next.substr(0, next.find('>'));
    startLine = startLine.substr(0, sp1 + 1) + next + startLine.substr(sp2);
    routes.erase(routes.begin());
    routes.push_back(normalized("<" + ruri + ">"));
  }
  if (startLine != b.startLine)
    return ::testing::AssertionFailure() << "start line changed: " << a.startLine << " -> " << b.startLine;
  if (a.body != b.body)
    return ::testing::AssertionFailure() << "body changed (" << a.body.size() << " -> " << b.body.size() << " bytes)";
  std::vector<const Field*> ka, kb;
  for (auto& f : a.fields)
    if (!isProxyEdited(f.name)) ka.push_back(&f);
  for (auto& f : b.fields)
    if (!isProxyEdited(f.name)) kb.push_back(&f);
  for (std::size_t i = 0; i < std::max(ka.size(), kb.size()); ++i) {
    if (i >= ka.size() || i >= kb.size() || ka[i]->name != kb[i]->name ||
        normalized(ka[i]->value) != normalized(kb[i]->value)) {
      auto show = [](const std::vector<const Field*>& v, std::size_t j) {
        return j < v.size() ? v[j]->name + ": " + v[j]->value : std::string("(none)");
      };
      return ::testing::AssertionFailure()
             << "header " << i << " differs:\n  in:  " << show(ka, i) << "\n  out: " << show(kb, i);
    }
  }
  // Via: a request gets ours on top; the sender's top one gains received/rport.
  // A response loses ours (the one withOurVia added) and keeps the rest.
  auto va = valuesOf(a, "via"), vb = valuesOf(b, "via");
  if (request) {
    if (vb.empty() || vb[0].find(";branch=z9hG4bKse") == std::string::npos)
      return ::testing::AssertionFailure() << "our Via is not on top";
    vb.erase(vb.begin());
    if (va.size() != vb.size())
      return ::testing::AssertionFailure() << "Via count " << va.size() << " -> " << vb.size();
    if (!va.empty() && viaWithoutOurParams(va[0]) != viaWithoutOurParams(vb[0]))
      return ::testing::AssertionFailure() << "top Via: " << va[0] << " -> " << vb[0];
    for (std::size_t i = 1; i < va.size(); ++i)
      if (normalized(noSpace(va[i])) != normalized(noSpace(vb[i])))
        return ::testing::AssertionFailure() << "Via " << i << ": " << va[i] << " -> " << vb[i];
  } else {
    if (va.size() != vb.size() + 1)
      return ::testing::AssertionFailure() << "Via count " << va.size() << " -> " << vb.size();
    for (std::size_t i = 0; i < vb.size(); ++i)
      if (normalized(noSpace(va[i + 1])) != normalized(noSpace(vb[i])))
        return ::testing::AssertionFailure() << "Via " << i + 1 << ": " << va[i + 1] << " -> " << vb[i];
  }
  if (request) {
    auto ma = valuesOf(a, "max-forwards"), mb = valuesOf(b, "max-forwards");
    unsigned long want = ma.empty() ? 70 : std::min(std::strtoul(ma[0].c_str(), nullptr, 10), 70UL) - 1;
    if (mb.size() != 1 || std::strtoul(mb[0].c_str(), nullptr, 10) != want)
      return ::testing::AssertionFailure()
             << "Max-Forwards " << (ma.empty() ? "(none)" : ma[0]) << " -> " << (mb.empty() ? "(none)" : mb[0]);
  }
  std::vector<std::string> routesOut;
  for (auto& v : valuesOf(b, "route"))
    if (!namesUs(v)) routesOut.push_back(normalized(v));
  if (routes != routesOut) return ::testing::AssertionFailure() << "Route set changed";
  for (const char* name : {"record-route", "path"}) {
    std::vector<std::string> ra, rb;
    for (auto& v : valuesOf(a, name))
      if (!namesUs(v)) ra.push_back(normalized(v));
    for (auto& v : valuesOf(b, name))
      if (!namesUs(v)) rb.push_back(normalized(v));
    if (ra != rb) return ::testing::AssertionFailure() << name << " entries not ours changed";
  }
  return ::testing::AssertionSuccess();
}

std::string testName(const ::testing::TestParamInfo<Case>& info) {
  std::string s = info.param.file;
  s = s.substr(0, s.rfind('.'));
  for (auto& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

const char* outcomeName(Outcome o) {
  switch (o) {
    case Outcome::Forwarded:
      return "Forwarded";
    case Outcome::Rejected:
    case Outcome::Refused:
      return "Rejected";
    case Outcome::Dropped:
      return "Dropped";
  }
  return "?";
}

// The sanity stage alone, on a message sofia parses: does it let the request through?
bool sanityAccepts(StageFixture& f, const std::string& raw, const proxy::Endpoint& src) {
  StageFixture::Parsed p(f, raw, src);
  if (!p.ctx.m.isRequest()) return false;
  return proxy::Sanity().onRequest(p.ctx).proceeds();
}

class Torture : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(Torture, HandledAsTheRfcSays) {
  const Case& c = GetParam();
  std::string raw = dataFile(c.file);
  ASSERT_FALSE(raw.empty()) << "missing tests/data/" << c.file;
  if (c.from == From::Response) raw = withOurVia(raw);
  StageFixture f;
  auto src = c.from == From::Phone ? StageFixture::phone() : StageFixture::pbxAddr();
  Result r = drive(f, raw, src);
  ASSERT_STREQ(outcomeName(r.outcome), outcomeName(c.outcome)) << c.reason << "\nreply:\n"
                                                               << r.reply << "\nforwarded:\n"
                                                               << r.forwarded;
  const bool request = !raw.starts_with("SIP/");
  switch (c.outcome) {
    case Outcome::Rejected:
    case Outcome::Refused: {
      EXPECT_EQ(r.code, c.code) << c.reason << "\n" << r.reply;
      // The reply answers this request: it carries its Call-ID when the request had exactly one.
      auto ids = valuesOf(split(raw), "call-id");
      if (ids.size() == 1) {
        EXPECT_NE(r.reply.find(ids[0]), std::string::npos) << r.reply;
      }
      // A valid message refused by policy still passes the sanity stage, whenever sofia can parse it.
      if (c.outcome == Outcome::Refused && proxy::SipMessage::parse(raw.data(), raw.size()).valid()) {
        EXPECT_TRUE(sanityAccepts(f, raw, src)) << c.reason;
      }
      break;
    }
    case Outcome::Forwarded:
      EXPECT_TRUE(forwardedIntact(raw, r.forwarded, request)) << c.reason << "\nforwarded:\n" << r.forwarded;
      ASSERT_TRUE(r.pipeline.target.has_value());
      EXPECT_NE(r.pipeline.target->addr, boost::asio::ip::make_address("255.255.255.255"));
      if (c.from == From::Phone) {
        EXPECT_EQ(r.pipeline.targetZone, proxy::Zone::Core) << "requests from a phone go to the PBX";
      }
      break;
    case Outcome::Dropped:
      EXPECT_TRUE(r.forwarded.empty());
      break;
  }
}

INSTANTIATE_TEST_SUITE_P(Rfc, Torture, ::testing::ValuesIn(kCases), testName);

// ---------------------------------------------------------------- the comparison helper catches real changes

TEST(ForwardedIntact, NoticesWhatAProxyMustNotChange) {
  std::string in = dataFile("rfc4475/cparam02.dat");
  StageFixture f;
  Result r = drive(f, in, StageFixture::phone());
  ASSERT_EQ(r.outcome, Outcome::Forwarded);
  ASSERT_TRUE(forwardedIntact(in, r.forwarded, true));
  auto replaced = [&](std::string from, std::string to) {
    std::string out = r.forwarded;
    out.replace(out.find(from), from.size(), to);
    return out;
  };
  EXPECT_FALSE(forwardedIntact(in, replaced("tag=838293", "tag=838294"), true));
  EXPECT_FALSE(forwardedIntact(in, replaced("Call-ID: cparam02.70710@saturn.example.com\r\n", ""), true));
  EXPECT_FALSE(forwardedIntact(in, replaced(";unknownparam", ""), true));
  EXPECT_FALSE(forwardedIntact(in, replaced("REGISTER sip:example.com", "REGISTER sip:example.org"), true));
  EXPECT_FALSE(forwardedIntact(in, replaced("saturn.example.com:5060", "saturn.example.com:5061"), true));
}

// ---------------------------------------------------------------- sanity rules the torture messages needed

namespace {

std::string request(std::string_view requestLine, std::string_view extra = {}, std::string_view body = {}) {
  std::string m(requestLine);
  m += "\r\nVia: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKsan1\r\n"
       "Max-Forwards: 70\r\nFrom: <sip:100@example.com>;tag=a\r\nTo: <sip:200@example.com>\r\n"
       "Call-ID: sanity-1\r\n";
  m += extra;
  if (extra.find("CSeq") == std::string_view::npos) m += "CSeq: 1 OPTIONS\r\n";
  if (extra.find("Content-Length") == std::string_view::npos)
    m += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  m += "\r\n";
  m += body;
  return m;
}

}  // namespace

// A second CSeq is listed by sofia as the CSeq header itself, not as an error header; naming it used to read
// a CSeq as a msg_error_t and crash.
TEST(RequestSanity, DuplicateSingleHeaderIsNamedAndRejected) {
  StageFixture f;
  auto r = drive(f, request("OPTIONS sip:200@example.com SIP/2.0", "CSeq: 1 OPTIONS\r\nCSeq: 2 OPTIONS\r\n"),
                 StageFixture::phone());
  ASSERT_EQ(r.outcome, Outcome::Rejected);
  EXPECT_TRUE(r.reply.starts_with("SIP/2.0 400 Bad CSeq\r\n")) << r.reply;
}

// No URI at all is a bad request (400); a URI of a scheme sipedge does not serve is 416.
TEST(RequestSanity, MalformedRequestUriIs400UnknownSchemeIs416) {
  StageFixture f;
  auto r = drive(f, request("OPTIONS <sip:200@example.com> SIP/2.0"), StageFixture::phone());
  EXPECT_TRUE(r.reply.starts_with("SIP/2.0 400 Bad Request-URI\r\n")) << r.reply;
  r = drive(f, request("OPTIONS im:200@example.com SIP/2.0"), StageFixture::phone());
  EXPECT_TRUE(r.reply.starts_with("SIP/2.0 416 ")) << r.reply;
  r = drive(f, request("OPTIONS sip:200@[2001:db8:::1] SIP/2.0"), StageFixture::phone());
  EXPECT_TRUE(r.reply.starts_with("SIP/2.0 400 Bad Request-URI\r\n")) << r.reply;
  r = drive(f, request("OPTIONS sip:200@[2001:db8::1] SIP/2.0"), StageFixture::phone());
  EXPECT_EQ(r.outcome, Outcome::Forwarded) << r.reply;
}

TEST(RequestSanity, HeadersEscapedIntoTheRequestUriAreRejected) {
  StageFixture f;
  auto r = drive(f, request("OPTIONS sip:200@example.com?Subject=hi SIP/2.0"), StageFixture::phone());
  EXPECT_TRUE(r.reply.starts_with("SIP/2.0 400 Headers in Request-URI\r\n")) << r.reply;
}

// A datagram is the whole message: Content-Length must match what arrived, short or long.
TEST(RequestSanity, ContentLengthMustMatchTheDatagram) {
  StageFixture f;
  auto r = drive(f, request("OPTIONS sip:200@example.com SIP/2.0", "Content-Length: 20\r\n", "hello"),
                 StageFixture::phone());
  EXPECT_TRUE(r.reply.starts_with("SIP/2.0 400 Bad Content-Length\r\n")) << r.reply;
  r = drive(f, request("OPTIONS sip:200@example.com SIP/2.0", "Content-Length: 99999999999\r\n", "hello"),
            StageFixture::phone());
  EXPECT_TRUE(r.reply.starts_with("SIP/2.0 400 ")) << r.reply;
  r = drive(f, request("OPTIONS sip:200@example.com SIP/2.0", "Content-Type: text/plain\r\n", "hello"),
            StageFixture::phone());
  EXPECT_EQ(r.outcome, Outcome::Forwarded) << r.reply;
}
