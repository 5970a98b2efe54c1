// BufWriter: appends text into a caller-owned fixed buffer. Overflow is sticky and checked once at the
// end, so message builders stay linear and never allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sipbench {

class BufWriter {
 public:
  BufWriter(char* buf, std::size_t cap) : buf_(buf), cap_(cap) {}

  BufWriter& put(std::string_view s) {
    if (s.size() > cap_ - len_) {
      overflow_ = true;
      return *this;
    }
    std::memcpy(buf_ + len_, s.data(), s.size());
    len_ += s.size();
    return *this;
  }
  BufWriter& put(char c) {
    if (len_ == cap_) {
      overflow_ = true;
      return *this;
    }
    buf_[len_++] = c;
    return *this;
  }
  BufWriter& putUint(uint64_t v) {
    char tmp[20];
    std::size_t n = 0;
    do {
      tmp[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    if (n > cap_ - len_) {
      overflow_ = true;
      return *this;
    }
    while (n > 0) buf_[len_++] = tmp[--n];
    return *this;
  }
  BufWriter& putHex(uint64_t v) {
    static constexpr char kDigits[] = "0123456789abcdef";
    char tmp[16];
    std::size_t n = 0;
    do {
      tmp[n++] = kDigits[v & 0xf];
      v >>= 4;
    } while (v != 0);
    if (n > cap_ - len_) {
      overflow_ = true;
      return *this;
    }
    while (n > 0) buf_[len_++] = tmp[--n];
    return *this;
  }
  BufWriter& crlf() { return put("\r\n"); }

  std::size_t size() const { return len_; }
  bool overflow() const { return overflow_; }
  std::string_view view() const { return {buf_, len_}; }

 private:
  char* buf_;
  std::size_t cap_;
  std::size_t len_ = 0;
  bool overflow_ = false;
};

}  // namespace sipbench
