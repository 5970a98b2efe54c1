#include "sip_message.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>

namespace sipedge::proxy {

namespace {

// sofia's SIP parser with the identity headers of RFC 3325 (P-Asserted-Identity, P-Preferred-Identity) and
// Remote-Party-ID as typed headers, so stages find and strip them by class; Privacy (RFC 3323) is in sofia's
// default set already. Made once, on first use (a function-local static: thread-safe).
msg_mclass_t const* sipClass() {
  static msg_mclass_t const* const mc = [] {
    msg_mclass_t* m = sip_extend_mclass(nullptr);
    if (m) sip_update_default_mclass(m);
    return m ? m : sip_default_mclass();
  }();
  return mc;
}

}  // namespace

void sofiaInit() {
  su_init();
  sipClass();
}

namespace {

// A line as received, without its CRLF ("CSeq: 1 INVITE"); nullopt when sofia did not keep it, or it does not
// end in CRLF, or it is folded over several lines.
std::optional<std::string_view> receivedLine(const msg_common_t* h) {
  if (!h->h_data || h->h_len < 2) return std::nullopt;
  std::string_view line(static_cast<const char*>(h->h_data), h->h_len);
  if (!line.ends_with("\r\n")) return std::nullopt;
  line.remove_suffix(2);
  if (line.find_first_of("\r\n") != std::string_view::npos) return std::nullopt;
  return line;
}

// The value of a header line as received ("CSeq: 1 INVITE\r\n" -> "1 INVITE"); empty when the line is not
// (receivedLine).
std::string_view receivedValue(const msg_common_t* h) {
  auto line = receivedLine(h);
  if (!line) return {};
  auto colon = line->find(':');
  if (colon == std::string_view::npos) return {};
  auto v = line->substr(colon + 1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  return v;
}

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The start line and the headers that frame the message and match its transaction leave in canonical form,
// whatever a lenient parse accepted ("SIP/2.0  200 OK", "CSeq: 1  INVITE extra", "Content-Length: 0012"): sofia
// prints them again unless they already are. Every other header a stage did not change leaves as it came.
void canonicalise(sip_t* sip) {
  if (sip->sip_request) {
    // A Request-Line leaves with single SPs (RFC 4475 §3.1.2.9-10).
    auto line = receivedLine(sip->sip_request->rq_common);
    bool ok = line && std::count(line->begin(), line->end(), ' ') == 2 && line->find('\t') == std::string_view::npos &&
              line->find("  ") == std::string_view::npos && !line->empty() && line->front() != ' ' &&
              line->back() != ' ';
    if (!ok) msg_fragment_clear(sip->sip_request->rq_common);
  }
  if (sip->sip_status) {
    // A Status-Line is "SIP/2.0 SP 3DIGIT SP Reason-Phrase": one received any other way is printed again.
    auto line = receivedLine(sip->sip_status->st_common);
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    bool ok = line && line->size() >= 12 && line->starts_with("SIP/2.0 ") && (*line)[8] >= '1' && (*line)[8] <= '6' &&
              digit((*line)[9]) && digit((*line)[10]) && (*line)[11] == ' ';
    if (!ok) msg_fragment_clear(sip->sip_status->st_common);
  }
  if (sip_cseq_t* cs = sip->sip_cseq) {
    auto v = receivedValue(cs->cs_common);
    auto sp = v.find(' ');
    bool ok = sp != std::string_view::npos && sp <= 10 && allDigits(v.substr(0, sp)) && cs->cs_method_name &&
              v.substr(sp + 1) == cs->cs_method_name;
    if (!ok) msg_fragment_clear(cs->cs_common);
  }
  if (sip_content_length_t* cl = sip->sip_content_length) {
    auto v = receivedValue(cl->l_common);
    bool ok = allDigits(v) && v.size() <= 9 && (v.size() == 1 || v.front() != '0');
    if (!ok) msg_fragment_clear(cl->l_common);
  }
}

}  // namespace

SipMessage SipMessage::parse(const char* data, std::size_t len) {
  SipMessage m;
  // MSG_DO_EXTRACT_COPY keeps each header's received text, so serialize() copies the headers no stage touched
  // byte for byte instead of printing every header again (and a proxy should not rewrite what it did not change).
  if (len == 0) return m;
  msg_t* raw = msg_create(sipClass(), MSG_DO_EXTRACT_COPY);
  if (!raw) return m;
  m.msg_.reset(raw);
  // msg_make() preloads the message's home with len + 1 KiB, which the receive buffer mostly takes, so the
  // header structures after it were mallocs of their own. This preload also holds the parsed headers and the
  // headers the stages add (worker: 299,000 -> 288,000 instructions per call). sofia keeps its size in 16 bits.
  su_home_preload(msg_home(raw), 1, std::min<std::size_t>(3 * len + 4096, 60000));
  msg_iovec_t iov[2];
  if (msg_recv_iovec(raw, iov, 2, len, 1) < 0 || iov[0].mv_len != len) return SipMessage{};
  std::memcpy(iov[0].mv_base, data, len);
  msg_recv_commit(raw, len, 1);
  if (msg_extract(raw) < 0) msg_object(raw)->msg_flags |= MSG_FLG_ERROR;  // as msg_make() does
  m.sip_ = sip_object(raw);
  if (m.sip_ && !m.sip_->sip_request && !m.sip_->sip_status) m.sip_ = nullptr;
  if (m.sip_) canonicalise(m.sip_);
  return m;
}

bool SipMessage::serialize(std::string& out) {
  if (msg_serialize(msg_.get(), reinterpret_cast<msg_pub_t*>(sip_)) < 0) return false;
  if (msg_prepare(msg_.get()) < 0) return false;
  msg_iovec_t iov[32];
  isize_t n = msg_iovec(msg_.get(), iov, 32);
  if (n <= 0 || n > 32) return false;
  out.clear();
  for (isize_t i = 0; i < n; ++i) out.append(static_cast<const char*>(iov[i].mv_base), iov[i].mv_len);
  return true;
}

msg_header_t* SipMessage::find(msg_hclass_t* hc) const {
  return valid() ? msg_header_access(pub(), hc) : nullptr;
}

bool SipMessage::insert(msg_hclass_t* hc, std::string_view value) {
  std::string v(value);  // sofia wants a terminated string
  msg_header_t* h = msg_header_make(home(), hc, v.c_str());
  return h && msg_header_insert(msg(), pub(), h) == 0;
}

bool SipMessage::add(msg_hclass_t* hc, std::string_view value) {
  std::string v(value);
  return msg_header_add_make(msg(), pub(), hc, v.c_str()) == 0;
}

bool SipMessage::replace(msg_hclass_t* hc, std::string_view value) {
  std::string v(value);
  msg_header_t* h = msg_header_make(home(), hc, v.c_str());
  if (!h) return false;
  remove(hc);
  return msg_header_add_dup(msg(), pub(), h) == 0;
}

std::size_t SipMessage::remove(msg_hclass_t* hc) {
  std::size_t n = 0;
  while (removeFirst(hc)) ++n;
  return n;
}

bool SipMessage::removeFirst(msg_hclass_t* hc) {
  msg_header_t* h = find(hc);
  return h && msg_header_remove(msg(), pub(), h) == 0;
}

namespace {

bool sameName(const char* a, std::string_view b) {
  if (!a || std::strlen(a) != b.size()) return false;
  for (std::size_t i = 0; i < b.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

}  // namespace

const sip_unknown_t* SipMessage::findUnknown(std::string_view name) const {
  for (const sip_unknown_t* u = valid() ? sip_->sip_unknown : nullptr; u; u = u->un_next)
    if (sameName(u->un_name, name)) return u;
  return nullptr;
}

bool SipMessage::addUnknown(std::string_view name, std::string_view value) {
  std::string line(name);
  line += ": ";
  line += value;
  return msg_header_add_make(msg(), pub(), sip_unknown_class, line.c_str()) == 0;
}

std::size_t SipMessage::removeUnknown(std::string_view name) {
  std::size_t n = 0;
  while (const sip_unknown_t* u = findUnknown(name)) {
    if (!remove(const_cast<sip_unknown_t*>(u))) break;
    ++n;
  }
  return n;
}

bool SipMessage::setParam(msg_header_t* h, std::string_view param) {
  // sofia keeps the parameter pointer: the text must live in the message's home.
  char* p = su_strndup(home(), param.data(), static_cast<isize_t>(param.size()));
  if (!p || msg_header_replace_param(home(), h->sh_common, p) < 0) return false;
  msg_fragment_clear(h->sh_common);
  return true;
}

bool SipMessage::setRequestUri(const url_t* u) {
  sip_request_t* old = sip_->sip_request;
  sip_request_t* rq = sip_request_create(home(), old->rq_method, old->rq_method_name,
                                         reinterpret_cast<const url_string_t*>(u), nullptr);
  return rq && msg_header_replace(msg(), pub(), reinterpret_cast<msg_header_t*>(old),
                                  reinterpret_cast<msg_header_t*>(rq)) == 0;
}

namespace {

void appendHeader(std::string& out, su_home_t* home, const msg_header_t* h) {
  if (!h) return;
  char buf[4096];
  issize_t n = msg_header_e(buf, sizeof buf, h, 0);
  if (n > 0 && static_cast<std::size_t>(n) < sizeof buf) out.append(buf, static_cast<std::size_t>(n));
  (void)home;
}

}  // namespace

std::string makeResponse(const SipMessage& req, int status, std::string_view phrase, std::string_view extra,
                         std::string_view toTag) {
  const sip_t* sip = req.sip();
  std::string out;
  out.reserve(512);
  out += "SIP/2.0 ";
  out += std::to_string(status);
  out += ' ';
  out += phrase;
  out += "\r\n";
  for (const sip_via_t* v = sip->sip_via; v; v = v->v_next)
    appendHeader(out, req.home(), reinterpret_cast<const msg_header_t*>(v));
  appendHeader(out, req.home(), reinterpret_cast<const msg_header_t*>(sip->sip_from));
  if (sip->sip_to) {
    std::string to;
    appendHeader(to, req.home(), reinterpret_cast<const msg_header_t*>(sip->sip_to));
    if (!sip->sip_to->a_tag && status > 100 && !to.empty() && !toTag.empty()) {
      to.insert(to.size() - 2, ";tag=" + std::string(toTag));
    }
    out += to;
  }
  appendHeader(out, req.home(), reinterpret_cast<const msg_header_t*>(sip->sip_call_id));
  appendHeader(out, req.home(), reinterpret_cast<const msg_header_t*>(sip->sip_cseq));
  out += extra;
  out += "Server: sipedge\r\nContent-Length: 0\r\n\r\n";
  return out;
}

namespace {

bool iequalsPrefix(std::string_view line, std::string_view name) {
  if (line.size() < name.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  return true;
}

// "via:" or "v:" (compact form), allowing spaces before the colon.
bool isHeader(std::string_view line, std::string_view full, char compact) {
  auto matchesAt = [&](std::size_t n) {
    std::size_t i = n;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    return i < line.size() && line[i] == ':';
  };
  if (iequalsPrefix(line, full) && matchesAt(full.size())) return true;
  return !line.empty() && std::tolower(static_cast<unsigned char>(line[0])) == compact && matchesAt(1);
}

}  // namespace

std::string makeRawResponse(std::string_view raw, int status, std::string_view phrase) {
  // Only answer things that start like a request line ("METHOD uri SIP/x"), never responses.
  auto eol = raw.find("\r\n");
  if (eol == std::string_view::npos) return {};
  auto first = raw.substr(0, eol);
  if (first.starts_with("SIP/") || first.find(' ') == std::string_view::npos) return {};
  std::string out = "SIP/2.0 " + std::to_string(status) + " " + std::string(phrase) + "\r\n";
  std::size_t pos = eol + 2;
  bool haveTo = false;
  while (pos < raw.size()) {
    auto e = raw.find("\r\n", pos);
    if (e == std::string_view::npos || e == pos) break;
    auto line = raw.substr(pos, e - pos);
    pos = e + 2;
    // Never reflect control bytes: a bare CR/LF or NUL copied into our reply would let the sender inject
    // headers into what we send back (response splitting).
    bool clean = line.size() <= 1024;
    for (char ch : line)
      if ((static_cast<unsigned char>(ch) < 0x20 && ch != '\t') || ch == 0x7f) clean = false;
    if (!clean) continue;
    if (isHeader(line, "via", 'v') || isHeader(line, "from", 'f') || isHeader(line, "call-id", 'i') ||
        isHeader(line, "cseq", '\x01')) {
      out.append(line).append("\r\n");
    } else if (isHeader(line, "to", 't') && !haveTo) {
      haveTo = true;
      out.append(line).append("\r\n");
    }
  }
  out += "Server: sipedge\r\nContent-Length: 0\r\n\r\n";
  return out;
}

}  // namespace sipedge::proxy
