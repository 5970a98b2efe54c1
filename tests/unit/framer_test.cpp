#include "proxy/framer.h"

#include <gtest/gtest.h>

using sipedge::proxy::StreamFramer;
using R = StreamFramer::Result;

TEST(Framer, FramesByContentLength) {
  StreamFramer f(65535, 16384);
  std::string m = "MESSAGE sip:a@b SIP/2.0\r\nContent-Length: 5\r\n\r\nhello";
  std::size_t len = 0;
  bool pong = false;
  EXPECT_EQ(f.next(m.substr(0, 10), len, pong), R::NeedMore);
  EXPECT_EQ(f.next(m.substr(0, m.size() - 1), len, pong), R::NeedMore);
  EXPECT_EQ(f.next(m + "NEXT", len, pong), R::Message);
  EXPECT_EQ(len, m.size());
  EXPECT_EQ(f.next("OPTIONS sip:a SIP/2.0\r\nl: 0\r\n\r\n", len, pong), R::Message);
}

TEST(Framer, KeepAlivesAndErrors) {
  StreamFramer f(2048, 1024);
  std::size_t len = 0;
  bool pong = false;
  EXPECT_EQ(f.next("\r\n\r\n", len, pong), R::KeepAlive);
  EXPECT_TRUE(pong);
  EXPECT_EQ(len, 4u);
  EXPECT_EQ(f.next("\r\nINVITE", len, pong), R::KeepAlive);
  EXPECT_FALSE(pong);
  EXPECT_EQ(f.next("INVITE sip:a SIP/2.0\r\n\r\n", len, pong), R::BadFraming);  // no Content-Length
  EXPECT_EQ(f.next("INVITE sip:a SIP/2.0\r\nContent-Length: -1\r\n\r\n", len, pong), R::BadFraming);
  EXPECT_EQ(f.next("INVITE sip:a SIP/2.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", len, pong), R::BadFraming);
  EXPECT_EQ(f.next("INVITE sip:a SIP/2.0\r\nContent-Length: 5000\r\n\r\n", len, pong), R::TooLarge);
  EXPECT_EQ(f.next(std::string(2000, 'a'), len, pong), R::TooLarge);
}
