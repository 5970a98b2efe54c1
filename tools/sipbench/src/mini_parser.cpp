// MiniParser implementation. Works on bytes only: no allocation, no locale, no exceptions, so that a
// malformed or hostile datagram costs a few comparisons and an error code.
#include "mini_parser.hpp"

#include <algorithm>

namespace sipbench {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Which of the headers we care about a name denotes. Compact forms (RFC 3261 §7.3.3) included.
enum class Hdr : uint8_t { Other, Via, From, To, CallId, CSeq, Contact, RecordRoute, Path, Expires, ContentLength };

Hdr classify(std::string_view name) {
  if (name.size() == 1) {
    switch (lower(name[0])) {
      case 'v':
        return Hdr::Via;
      case 'f':
        return Hdr::From;
      case 't':
        return Hdr::To;
      case 'i':
        return Hdr::CallId;
      case 'm':
        return Hdr::Contact;
      case 'l':
        return Hdr::ContentLength;
      default:
        return Hdr::Other;
    }
  }
  // Switch on length first so most names are rejected without a string compare.
  switch (name.size()) {
    case 2:
      return iequals(name, "to") ? Hdr::To : Hdr::Other;
    case 3:
      return iequals(name, "via") ? Hdr::Via : Hdr::Other;
    case 4:
      if (iequals(name, "from")) return Hdr::From;
      if (iequals(name, "cseq")) return Hdr::CSeq;
      if (iequals(name, "path")) return Hdr::Path;
      return Hdr::Other;
    case 7:
      if (iequals(name, "call-id")) return Hdr::CallId;
      if (iequals(name, "contact")) return Hdr::Contact;
      if (iequals(name, "expires")) return Hdr::Expires;
      return Hdr::Other;
    case 12:
      return iequals(name, "record-route") ? Hdr::RecordRoute : Hdr::Other;
    case 14:
      return iequals(name, "content-length") ? Hdr::ContentLength : Hdr::Other;
    default:
      return Hdr::Other;
  }
}

// Finds the end of the line starting at `pos`: returns the index of '\r' or '\n' (or size). Bare LF is
// accepted because some test tools emit it.
std::size_t lineEnd(std::string_view data, std::size_t pos) {
  const char* p = data.data() + pos;
  const char* e = data.data() + data.size();
  while (p < e && *p != '\r' && *p != '\n') ++p;
  return static_cast<std::size_t>(p - data.data());
}

std::size_t skipEol(std::string_view data, std::size_t pos) {
  if (pos < data.size() && data[pos] == '\r') ++pos;
  if (pos < data.size() && data[pos] == '\n') ++pos;
  return pos;
}

ParseError parseStartLine(std::string_view line, SipMessage& out) {
  if (line.starts_with("SIP/2.0 ")) {
    // Status-Line: SIP/2.0 SP 3DIGIT SP Reason
    if (line.size() < 11) return ParseError::BadStartLine;
    const std::string_view code = line.substr(8, 3);
    const auto v = parseUint(code);
    if (!v || *v < 100 || *v > 699) return ParseError::BadStartLine;
    out.is_request = false;
    out.status = static_cast<int>(*v);
    out.reason = line.size() > 12 ? line.substr(12) : std::string_view{};
    return ParseError::None;
  }
  // Request-Line: Method SP Request-URI SP SIP/2.0
  const auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return ParseError::BadStartLine;
  const auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return ParseError::BadStartLine;
  if (line.substr(sp2 + 1) != "SIP/2.0") return ParseError::BadStartLine;
  out.is_request = true;
  out.method_token = line.substr(0, sp1);
  out.method = methodFromToken(out.method_token);
  out.request_uri = line.substr(sp1 + 1, sp2 - sp1 - 1);
  return ParseError::None;
}

ParseError applyHeader(Hdr h, std::string_view value, SipMessage& out) {
  switch (h) {
    case Hdr::Via:
      out.vias.push(value);
      break;
    case Hdr::From:
      out.from = value;
      break;
    case Hdr::To:
      out.to = value;
      break;
    case Hdr::CallId:
      out.call_id = value;
      break;
    case Hdr::Contact:
      out.contacts.push(value);
      break;
    case Hdr::RecordRoute:
      out.record_routes.push(value);
      break;
    case Hdr::Path:
      out.paths.push(value);
      break;
    case Hdr::Expires:
      out.expires = parseUint(value);
      break;
    case Hdr::CSeq: {
      std::size_t i = 0;
      while (i < value.size() && value[i] >= '0' && value[i] <= '9') ++i;
      const auto n = parseUint(value.substr(0, i));
      if (!n) return ParseError::BadCSeq;
      const std::string_view m = trim(value.substr(i));
      if (m.empty() || i == value.size() || !isSpace(value[i])) return ParseError::BadCSeq;
      out.cseq = *n;
      out.cseq_method_token = m;
      out.cseq_method = methodFromToken(m);
      break;
    }
    case Hdr::ContentLength: {
      const auto n = parseUint(value);
      if (!n) return ParseError::BadContentLength;
      out.content_length = *n;
      break;
    }
    case Hdr::Other:
      break;
  }
  return ParseError::None;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  std::size_t b = 0;
  std::size_t e = s.size();
  while (b < e && isSpace(s[b])) ++b;
  while (e > b && isSpace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::optional<uint32_t> parseUint(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

Method methodFromToken(std::string_view t) {
  // Methods are case-sensitive (RFC 3261 §7.1).
  switch (t.size()) {
    case 3:
      if (t == "ACK") return Method::Ack;
      if (t == "BYE") return Method::Bye;
      break;
    case 6:
      if (t == "INVITE") return Method::Invite;
      if (t == "CANCEL") return Method::Cancel;
      break;
    case 7:
      if (t == "OPTIONS") return Method::Options;
      break;
    case 8:
      if (t == "REGISTER") return Method::Register;
      break;
    default:
      break;
  }
  return Method::Unknown;
}

std::string_view methodName(Method m) {
  switch (m) {
    case Method::Invite:
      return "INVITE";
    case Method::Ack:
      return "ACK";
    case Method::Bye:
      return "BYE";
    case Method::Cancel:
      return "CANCEL";
    case Method::Register:
      return "REGISTER";
    case Method::Options:
      return "OPTIONS";
    case Method::Unknown:
      break;
  }
  return "UNKNOWN";
}

std::string_view parseErrorName(ParseError e) {
  switch (e) {
    case ParseError::None:
      return "none";
    case ParseError::Empty:
      return "empty";
    case ParseError::BadStartLine:
      return "bad_start_line";
    case ParseError::BadHeader:
      return "bad_header";
    case ParseError::MissingHeader:
      return "missing_header";
    case ParseError::BadCSeq:
      return "bad_cseq";
    case ParseError::BadContentLength:
      return "bad_content_length";
    case ParseError::Truncated:
      return "truncated";
  }
  return "unknown";
}

ParseError parseMessage(std::string_view data, SipMessage& out) {
  out = SipMessage{};
  // RFC 3261 §7.5: ignore CRLFs before the start line (keep-alives and stray blank lines).
  std::size_t pos = 0;
  while (pos < data.size() && (data[pos] == '\r' || data[pos] == '\n')) ++pos;
  if (pos >= data.size()) return ParseError::Empty;

  std::size_t eol = lineEnd(data, pos);
  if (eol >= data.size()) return ParseError::Truncated;
  if (const auto e = parseStartLine(data.substr(pos, eol - pos), out); e != ParseError::None) return e;
  pos = skipEol(data, eol);

  // Header lines. A pending header is applied once we know it has no continuation line (obsolete
  // folding, RFC 3261 §7.3.1), so its value view can span the fold.
  Hdr pending = Hdr::Other;
  std::size_t value_begin = 0;
  std::size_t value_end = 0;
  bool have_pending = false;
  bool ended = false;
  while (pos < data.size()) {
    eol = lineEnd(data, pos);
    if (eol == pos) {  // blank line: end of headers
      pos = skipEol(data, eol);
      ended = true;
      break;
    }
    if (data[pos] == ' ' || data[pos] == '\t') {
      if (!have_pending) return ParseError::BadHeader;
      value_end = eol;  // continuation of the previous header
      pos = skipEol(data, eol);
      continue;
    }
    if (have_pending) {
      const auto e = applyHeader(pending, trim(data.substr(value_begin, value_end - value_begin)), out);
      if (e != ParseError::None) return e;
    }
    const std::string_view line = data.substr(pos, eol - pos);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return ParseError::BadHeader;
    pending = classify(trim(line.substr(0, colon)));
    value_begin = pos + colon + 1;
    value_end = eol;
    have_pending = true;
    pos = skipEol(data, eol);
  }
  if (have_pending) {
    const auto e = applyHeader(pending, trim(data.substr(value_begin, value_end - value_begin)), out);
    if (e != ParseError::None) return e;
  }
  if (!ended) return ParseError::Truncated;

  if (out.vias.empty() || out.from.empty() || out.to.empty() || out.call_id.empty() || out.cseq_method_token.empty())
    return ParseError::MissingHeader;

  const std::size_t available = data.size() - pos;
  if (out.content_length < 0) {
    out.body = data.substr(pos);  // UDP without Content-Length: the body is the rest of the datagram
  } else {
    if (static_cast<std::size_t>(out.content_length) > available) return ParseError::Truncated;
    out.body = data.substr(pos, static_cast<std::size_t>(out.content_length));
  }
  return ParseError::None;
}

std::string_view firstListElement(std::string_view value) {
  std::string_view first;
  forEachListElement(value, [&](std::string_view e) {
    first = e;
    return false;
  });
  return first;
}

std::optional<std::string_view> findParam(std::string_view params, std::string_view name) {
  std::size_t pos = 0;
  while (pos < params.size()) {
    const auto semi = params.find(';', pos);
    if (semi == std::string_view::npos) return std::nullopt;
    std::size_t end = params.find(';', semi + 1);
    if (end == std::string_view::npos) end = params.size();
    const std::string_view p = trim(params.substr(semi + 1, end - semi - 1));
    const auto eq = p.find('=');
    const std::string_view key = trim(p.substr(0, eq));
    if (iequals(key, name)) {
      if (eq == std::string_view::npos) return std::string_view{};
      std::string_view v = trim(p.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
    pos = end;
  }
  return std::nullopt;
}

NameAddr parseNameAddr(std::string_view value) {
  NameAddr na;
  value = trim(value);
  // Skip a quoted display name so a '<' inside it does not confuse us.
  std::size_t search_from = 0;
  if (!value.empty() && value[0] == '"') {
    std::size_t i = 1;
    while (i < value.size() && value[i] != '"') i += (value[i] == '\\') ? 2 : 1;
    search_from = std::min(i + 1, value.size());
  }
  const auto lt = value.find('<', search_from);
  if (lt != std::string_view::npos) {
    const auto gt = value.find('>', lt + 1);
    if (gt == std::string_view::npos) {
      na.uri = value.substr(lt + 1);
      return na;
    }
    na.uri = value.substr(lt + 1, gt - lt - 1);
    const auto semi = value.find(';', gt + 1);
    if (semi != std::string_view::npos) na.params = value.substr(semi);
    return na;
  }
  // addr-spec form: header parameters start at the first ';' (RFC 3261 §20: URI parameters need <>).
  const auto semi = value.find(';');
  na.uri = trim(value.substr(0, semi));
  if (semi != std::string_view::npos) na.params = value.substr(semi);
  return na;
}

std::string_view tagOf(std::string_view from_or_to) {
  const NameAddr na = parseNameAddr(from_or_to);
  return findParam(na.params, "tag").value_or(std::string_view{});
}

bool parseSipUri(std::string_view uri, SipUri& out) {
  out = SipUri{};
  std::size_t pos;
  if (uri.size() > 4 && iequals(uri.substr(0, 4), "sip:")) {
    pos = 4;
  } else if (uri.size() > 5 && iequals(uri.substr(0, 5), "sips:")) {
    pos = 5;
  } else {
    return false;
  }
  std::string_view rest = uri.substr(pos);
  // Parameters and headers end the hostport.
  const auto pend = rest.find_first_of(";?");
  const std::string_view params = pend == std::string_view::npos ? std::string_view{} : rest.substr(pend);
  std::string_view userhost = rest.substr(0, pend);
  const auto at = userhost.rfind('@');
  if (at != std::string_view::npos) {
    out.user = userhost.substr(0, at);
    userhost = userhost.substr(at + 1);
  }
  std::string_view host = userhost;
  std::string_view port;
  if (!host.empty() && host[0] == '[') {  // IPv6 reference
    const auto rb = host.find(']');
    if (rb == std::string_view::npos) return false;
    if (rb + 1 < host.size()) {
      if (host[rb + 1] != ':') return false;
      port = host.substr(rb + 2);
    }
    host = host.substr(0, rb + 1);
  } else if (const auto colon = host.find(':'); colon != std::string_view::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  if (host.empty()) return false;
  out.host = host;
  if (!port.empty()) {
    const auto p = parseUint(port);
    if (!p || *p > 65535) return false;
    out.port = static_cast<uint16_t>(*p);
  }
  if (!params.empty() && params[0] == ';') {
    const auto q = params.find('?');
    out.lr = findParam(params.substr(0, q), "lr").has_value();
  }
  return true;
}

bool parseVia(std::string_view via_value, ViaInfo& out) {
  out = ViaInfo{};
  const std::string_view v = firstListElement(via_value);
  // sent-protocol: SIP / 2.0 / UDP (whitespace around '/' is legal but rare; we accept none).
  const auto sp = v.find_first_of(" \t");
  if (sp == std::string_view::npos) return false;
  const std::string_view proto = v.substr(0, sp);
  const auto slash = proto.rfind('/');
  if (slash == std::string_view::npos || !iequals(proto.substr(0, 8), "SIP/2.0/")) return false;
  out.transport = proto.substr(slash + 1);
  std::string_view rest = trim(v.substr(sp));
  const auto semi = rest.find(';');
  std::string_view hostport = trim(rest.substr(0, semi));
  const std::string_view params = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi);
  std::string_view port;
  if (!hostport.empty() && hostport[0] == '[') {
    const auto rb = hostport.find(']');
    if (rb == std::string_view::npos) return false;
    if (rb + 1 < hostport.size() && hostport[rb + 1] == ':') port = hostport.substr(rb + 2);
    hostport = hostport.substr(0, rb + 1);
  } else if (const auto colon = hostport.find(':'); colon != std::string_view::npos) {
    port = hostport.substr(colon + 1);
    hostport = hostport.substr(0, colon);
  }
  if (hostport.empty()) return false;
  out.host = hostport;
  if (!port.empty()) {
    const auto p = parseUint(port);
    if (!p || *p > 65535) return false;
    out.port = static_cast<uint16_t>(*p);
  }
  out.branch = findParam(params, "branch").value_or(std::string_view{});
  out.received = findParam(params, "received").value_or(std::string_view{});
  if (const auto rp = findParam(params, "rport")) {
    out.has_rport = true;
    if (!rp->empty()) {
      const auto p = parseUint(*rp);
      if (p && *p <= 65535) out.rport = static_cast<uint16_t>(*p);
    }
  }
  return true;
}

}  // namespace sipbench
