// Dialog: route set from Record-Route (reversed for the UAC), loose and strict routing, fallbacks.
#include "dialog.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <string>

#include "udp_io.hpp"

namespace sipbench {
namespace {

std::string okWith(const std::string& extra) {
  return "SIP/2.0 200 OK\r\n"
         "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKsb0.1.2.i\r\n" +
         extra +
         "From: <sip:user1@example.com>;tag=abc\r\n"
         "To: <sip:service@example.com>;tag=xyz\r\n"
         "Call-ID: c\r\n"
         "CSeq: 1 INVITE\r\n"
         "Content-Length: 0\r\n\r\n";
}

sockaddr_in fallback() {
  sockaddr_in a{};
  makeAddr("127.0.0.9", 5999, a);
  return a;
}

TEST(Dialog, NoRecordRouteGoesToContact) {
  const std::string ok = okWith("Contact: <sip:uas@127.0.0.5:5080>\r\n");
  SipMessage m;
  ASSERT_EQ(parseMessage(ok, m), ParseError::None);
  Dialog d;
  ASSERT_EQ(d.establish(m, "sip:service@example.com", fallback()), Dialog::Result::Ok);
  EXPECT_EQ(d.requestUri(), "sip:uas@127.0.0.5:5080");
  EXPECT_EQ(d.to(), "<sip:service@example.com>;tag=xyz");
  EXPECT_EQ(d.routeLines(), "");
  EXPECT_EQ(formatAddr(d.dest()), "127.0.0.5:5080");
  EXPECT_FALSE(d.usedFallback());
}

TEST(Dialog, LooseRoutesAreReversedAndTheLastRecordRouteIsTheNextHop) {
  // Proxies P1 (next to us) then P2 (next to the UAS): the UAS echoes "P2, P1"; we route P1 then P2.
  const std::string ok = okWith(
      "Record-Route: <sip:127.0.0.2:5062;lr>\r\n"
      "Record-Route: <sip:127.0.0.1:5061;lr>\r\n"
      "Contact: <sip:uas@127.0.0.5:5080>\r\n");
  SipMessage m;
  ASSERT_EQ(parseMessage(ok, m), ParseError::None);
  Dialog d;
  ASSERT_EQ(d.establish(m, "sip:service@example.com", fallback()), Dialog::Result::Ok);
  EXPECT_EQ(d.requestUri(), "sip:uas@127.0.0.5:5080");
  EXPECT_EQ(d.routeLines(), "Route: <sip:127.0.0.1:5061;lr>\r\nRoute: <sip:127.0.0.2:5062;lr>\r\n");
  EXPECT_EQ(formatAddr(d.dest()), "127.0.0.1:5061");
}

TEST(Dialog, CommaListRecordRouteCountsAsSeparateEntries) {
  const std::string ok = okWith(
      "Record-Route: <sip:127.0.0.2;lr>, <sip:127.0.0.1:5061;lr>\r\n"
      "Contact: <sip:uas@127.0.0.5:5080>\r\n");
  SipMessage m;
  ASSERT_EQ(parseMessage(ok, m), ParseError::None);
  Dialog d;
  ASSERT_EQ(d.establish(m, "sip:x", fallback()), Dialog::Result::Ok);
  EXPECT_EQ(formatAddr(d.dest()), "127.0.0.1:5061");
  EXPECT_EQ(d.routeLines(), "Route: <sip:127.0.0.1:5061;lr>\r\nRoute: <sip:127.0.0.2;lr>\r\n");
}

TEST(Dialog, StrictRouterBecomesRequestUri) {
  const std::string ok = okWith(
      "Record-Route: <sip:127.0.0.3:5063>\r\n"
      "Contact: <sip:uas@127.0.0.5:5080>\r\n");
  SipMessage m;
  ASSERT_EQ(parseMessage(ok, m), ParseError::None);
  Dialog d;
  ASSERT_EQ(d.establish(m, "sip:x", fallback()), Dialog::Result::Ok);
  EXPECT_EQ(d.requestUri(), "sip:127.0.0.3:5063");
  EXPECT_EQ(d.routeLines(), "Route: <sip:uas@127.0.0.5:5080>\r\n");
  EXPECT_EQ(formatAddr(d.dest()), "127.0.0.3:5063");
}

TEST(Dialog, NonNumericHostFallsBackToTarget) {
  const std::string ok = okWith("Record-Route: <sip:proxy.example.com;lr>\r\nContact: <sip:uas@pbx.example.com>\r\n");
  SipMessage m;
  ASSERT_EQ(parseMessage(ok, m), ParseError::None);
  Dialog d;
  ASSERT_EQ(d.establish(m, "sip:x", fallback()), Dialog::Result::Ok);
  EXPECT_TRUE(d.usedFallback());
  EXPECT_EQ(formatAddr(d.dest()), "127.0.0.9:5999");
}

TEST(Dialog, OversizedRouteSetIsRefused) {
  std::string rr;
  for (int i = 0; i < 15; ++i)
    rr += "Record-Route: <sip:127.0.0.1:" + std::to_string(5000 + i) + ";lr;" + std::string(100, 'x') + ">\r\n";
  const std::string ok = okWith(rr + "Contact: <sip:uas@127.0.0.5>\r\n");
  SipMessage m;
  ASSERT_EQ(parseMessage(ok, m), ParseError::None);
  Dialog d;
  EXPECT_EQ(d.establish(m, "sip:x", fallback()), Dialog::Result::TooLarge);
}

}  // namespace
}  // namespace sipbench
