// MiniParser: a zero-copy, allocation-free reader for the few SIP fields a load generator needs.
//
// It is deliberately not a full RFC 3261 parser: it finds the start line and the headers sipbench acts on
// (Via, From, To, Call-ID, CSeq, Contact, Record-Route, Path, Expires, Content-Length) and leaves the rest
// alone. Every view points into the caller's buffer, so a SipMessage is only valid while that buffer is.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sipbench {

enum class Method : uint8_t { Unknown, Invite, Ack, Bye, Cancel, Register, Options };

Method methodFromToken(std::string_view token);
std::string_view methodName(Method m);

// A bounded list of views; extra items are dropped and flagged rather than allocated.
template <std::size_t N>
class ViewList {
 public:
  void push(std::string_view v) {
    if (size_ < N) {
      items_[size_++] = v;
    } else {
      overflow_ = true;
    }
  }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool overflow() const { return overflow_; }
  std::string_view operator[](std::size_t i) const { return items_[i]; }
  const std::string_view* begin() const { return items_.data(); }
  const std::string_view* end() const { return items_.data() + size_; }

 private:
  std::array<std::string_view, N> items_{};
  std::size_t size_ = 0;
  bool overflow_ = false;
};

// Parsed view of one SIP message. Header values are trimmed; a header that appears with a comma list or
// several times keeps each header's value as one item (split them with forEachListElement).
struct SipMessage {
  bool is_request = false;
  // Request line.
  Method method = Method::Unknown;
  std::string_view method_token;
  std::string_view request_uri;
  // Status line.
  int status = 0;
  std::string_view reason;

  ViewList<16> vias;  // in message order; vias[0] holds the topmost Via
  ViewList<16> record_routes;
  ViewList<8> contacts;
  ViewList<8> paths;
  std::string_view from;
  std::string_view to;
  std::string_view call_id;
  std::string_view cseq_method_token;
  uint32_t cseq = 0;
  Method cseq_method = Method::Unknown;
  std::optional<uint32_t> expires;  // the Expires header, when present and numeric
  std::string_view body;
  int64_t content_length = -1;  // -1 when the header is absent (UDP: body runs to the datagram's end)
};

enum class ParseError : uint8_t {
  None,
  Empty,
  BadStartLine,
  BadHeader,
  MissingHeader,  // one of Via, From, To, Call-ID, CSeq is absent
  BadCSeq,
  BadContentLength,
  Truncated,  // Content-Length larger than what arrived, or no blank line ending the headers
};

std::string_view parseErrorName(ParseError e);

// Parses one message that fills `data` (one UDP datagram). Fills `out` from scratch.
ParseError parseMessage(std::string_view data, SipMessage& out);

// --- helpers on header values -------------------------------------------------------------------------

// Calls f(element) for each top-level comma-separated element of a header value, ignoring commas inside
// quotes and <...>. Elements are trimmed. Returns false if f returned false (early stop).
template <typename F>
bool forEachListElement(std::string_view value, F&& f);

// The first top-level comma-separated element of a header value.
std::string_view firstListElement(std::string_view value);

// Finds the parameter `name` (case-insensitive) in a ";a=b;c" list. Returns the value (empty for a
// flag parameter) or nullopt when absent.
std::optional<std::string_view> findParam(std::string_view params, std::string_view name);

// Splits a name-addr or addr-spec ("Bob" <sip:b@h;lr>;tag=1  or  sip:b@h;tag=1) into the URI and the
// header parameters that follow it.
struct NameAddr {
  std::string_view uri;     // without the angle brackets
  std::string_view params;  // starting at the first ';' after the URI, or empty
};
NameAddr parseNameAddr(std::string_view value);

// The tag parameter of a From or To value, or empty.
std::string_view tagOf(std::string_view from_or_to);

// host, port and the lr flag of a sip: or sips: URI. Port 0 means "not given".
struct SipUri {
  std::string_view user;
  std::string_view host;
  uint16_t port = 0;
  bool lr = false;
};
bool parseSipUri(std::string_view uri, SipUri& out);

// The fields of the first element of a Via value that routing responses needs.
struct ViaInfo {
  std::string_view transport;  // "UDP", "TCP", ...
  std::string_view host;
  uint16_t port = 0;  // 0 when absent
  std::string_view branch;
  std::string_view received;
  bool has_rport = false;
  uint16_t rport = 0;  // 0 when the rport parameter carries no value
};
bool parseVia(std::string_view via_value, ViaInfo& out);

// Case-insensitive ASCII equality.
bool iequals(std::string_view a, std::string_view b);

// Parses a decimal unsigned integer that fills `s`; nullopt on anything else or overflow of 32 bits.
std::optional<uint32_t> parseUint(std::string_view s);

std::string_view trim(std::string_view s);

// --- template implementation ---------------------------------------------------------------------------

template <typename F>
bool forEachListElement(std::string_view value, F&& f) {
  bool in_quotes = false;
  int angle = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (in_quotes) {
      if (c == '\\' && i + 1 < value.size()) {
        ++i;
      } else if (c == '"') {
        in_quotes = false;
      }
      continue;
    }
    if (c == '"') {
      in_quotes = true;
    } else if (c == '<') {
      ++angle;
    } else if (c == '>') {
      if (angle > 0) --angle;
    } else if (c == ',' && angle == 0) {
      const std::string_view element = trim(value.substr(start, i - start));
      if (!element.empty() && !f(element)) return false;
      start = i + 1;
    }
  }
  const std::string_view element = trim(value.substr(start));
  if (!element.empty() && !f(element)) return false;
  return true;
}

}  // namespace sipbench
