#include "framer.h"

#include <cctype>
#include <charconv>
#include <cstring>

namespace sipedge::proxy {

namespace {

bool headerIs(std::string_view line, std::string_view name) {
  std::size_t i = 0;
  for (; i < name.size(); ++i)
    if (i >= line.size() || std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return i < line.size() && line[i] == ':';
}

}  // namespace

StreamFramer::Result StreamFramer::next(std::string_view buf, std::size_t& len, bool& pong) const {
  pong = false;
  // Leading CRLFs are keep-alives between messages.
  std::size_t crlf = 0;
  while (crlf + 1 < buf.size() && buf[crlf] == '\r' && buf[crlf + 1] == '\n') crlf += 2;
  if (crlf > 0) {
    len = crlf;
    pong = crlf >= 4;
    return Result::KeepAlive;
  }
  if (buf.size() == 1 && buf[0] == '\r') return Result::NeedMore;
  auto end = buf.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (buf.size() > maxHeader_) return Result::TooLarge;
    return Result::NeedMore;
  }
  std::size_t headerLen = end + 4;
  if (headerLen > maxHeader_) return Result::TooLarge;
  // Find Content-Length (or its compact form "l") among the header lines, unfolding nothing: the value must
  // sit on its own line.
  long long contentLength = -1;
  std::size_t pos = buf.find("\r\n") + 2;
  while (pos < end + 2) {
    auto e = buf.find("\r\n", pos);
    auto line = buf.substr(pos, e - pos);
    pos = e + 2;
    if (headerIs(line, "content-length") || headerIs(line, "l")) {
      auto v = line.substr(line.find(':') + 1);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      long long n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || n < 0) return Result::BadFraming;
      if (contentLength >= 0 && contentLength != n) return Result::BadFraming;
      contentLength = n;
    }
  }
  if (contentLength < 0) return Result::BadFraming;  // mandatory on streams
  if (headerLen + static_cast<std::size_t>(contentLength) > maxMessage_) return Result::TooLarge;
  std::size_t total = headerLen + static_cast<std::size_t>(contentLength);
  if (buf.size() < total) return Result::NeedMore;
  len = total;
  return Result::Message;
}

}  // namespace sipedge::proxy
