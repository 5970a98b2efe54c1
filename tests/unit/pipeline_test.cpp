#include <gtest/gtest.h>

#include "stage_fixture.h"

using namespace sipedge;
using namespace sipedge::test;

namespace {
const char* kOptions =
    "OPTIONS sip:198.51.100.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bKopt1;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:100@example.com>;tag=a\r\n"
    "To: <sip:198.51.100.1>\r\n"
    "Call-ID: opt-1\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Content-Length: 0\r\n\r\n";
}

TEST(Pipeline, OptionsToUsAnswered200WithReceivedAndRport) {
  StageFixture f;
  auto r = f.run(kOptions, StageFixture::phone());
  ASSERT_EQ(r.verdict, proxy::Action::Answer);
  EXPECT_NE(r.reply.find("SIP/2.0 200 OK\r\n"), std::string::npos) << r.reply;
  EXPECT_NE(r.reply.find("Via: SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bKopt1;rport=5062;received=192.0.2.10\r\n"),
            std::string::npos)
      << r.reply;
}
