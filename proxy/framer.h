// Splits a TCP byte stream into SIP messages by Content-Length (RFC 3261 §18.3), within size limits.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sipedge::proxy {

class StreamFramer {
 public:
  enum class Result { Message, NeedMore, KeepAlive, TooLarge, BadFraming };

  StreamFramer(std::size_t maxMessage, std::size_t maxHeader) : maxMessage_(maxMessage), maxHeader_(maxHeader) {}

  // Looks at the front of `buf`. On Message, `len` is the size of the complete message at the front; on
  // KeepAlive, `len` is the number of CRLF bytes to consume (a double CRLF asks for a single CRLF pong,
  // RFC 5626 §4.4.1). The caller erases `len` bytes afterwards.
  Result next(std::string_view buf, std::size_t& len, bool& pong) const;

 private:
  std::size_t maxMessage_;
  std::size_t maxHeader_;
};

}  // namespace sipedge::proxy
