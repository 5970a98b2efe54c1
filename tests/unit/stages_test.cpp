// Each pipeline stage on raw messages from tests/data/msgs, one behaviour per test.
#include <gtest/gtest.h>

#include "proxy/log.h"
#include "proxy/sip_util.h"
#include "stage_fixture.h"

using namespace sipedge;
using namespace sipedge::test;
using proxy::Action;

namespace {

std::string replace(std::string s, const std::string& from, const std::string& to) {
  auto p = s.find(from);
  if (p != std::string::npos) s.replace(p, from.size(), to);
  return s;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST(Stages, InviteFromPhoneGoesToPbxWithDoubleRecordRoute) {
  StageFixture f;
  auto r = f.run(dataFile("msgs/invite.sip"), StageFixture::phone());
  ASSERT_EQ(r.verdict, Action::Continue) << r.reply;
  ASSERT_TRUE(r.target);
  EXPECT_EQ(r.target->text(), "udp:10.0.0.2:5080");
  EXPECT_EQ(r.targetZone, proxy::Zone::Core);
  auto rr1 = r.forwarded.find("Record-Route: <sip:10.0.0.1:5070;lr;dst=");
  auto rr2 = r.forwarded.find("Record-Route: <sip:198.51.100.1:5060;lr;dst=");
  ASSERT_NE(rr1, std::string::npos) << r.forwarded;
  ASSERT_NE(rr2, std::string::npos) << r.forwarded;
  EXPECT_LT(rr1, rr2);
  EXPECT_EQ(f.dstIn(r.forwarded, rr1), "udp:192.0.2.10:5062");
  EXPECT_EQ(f.dstIn(r.forwarded, rr2), "udp:192.0.2.10:5062");
  // The phone's address is sealed: nobody who sees the Record-Route can read it.
  EXPECT_FALSE(contains(r.forwarded, "192.0.2.10:5062"));
  EXPECT_TRUE(contains(r.forwarded, "Max-Forwards: 69\r\n"));
  EXPECT_TRUE(contains(r.forwarded, "rport=5062;received=192.0.2.10"));
  // The body is untouched.
  EXPECT_TRUE(contains(r.forwarded, "m=audio 4000 RTP/AVP 0 8 101\r\n"));
}

TEST(Stages, RegisterFromPhoneGetsPathNotRecordRoute) {
  StageFixture f;
  auto r = f.run(dataFile("msgs/register.sip"), StageFixture::phone());
  ASSERT_EQ(r.verdict, Action::Continue);
  EXPECT_TRUE(contains(r.forwarded, "Path: <sip:10.0.0.1:5070;lr;dst=")) << r.forwarded;
  EXPECT_EQ(f.dstIn(r.forwarded, r.forwarded.find("Path:")), "udp:192.0.2.10:5062");
  EXPECT_FALSE(contains(r.forwarded, "Record-Route"));
}

TEST(Stages, TcpPhoneGetsTransportParamAndRportAlways) {
  StageFixture f;
  std::string m = replace(dataFile("msgs/register.sip"), "SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bKreg1;rport",
                          "SIP/2.0/TCP 192.168.1.5:5062;branch=z9hG4bKreg1");
  auto r = f.run(m, StageFixture::phone("192.0.2.10", 40001, proxy::Transport::Tcp));
  ASSERT_EQ(r.verdict, Action::Continue);
  EXPECT_TRUE(contains(r.forwarded, "rport=40001")) << r.forwarded;
  EXPECT_EQ(f.dstIn(r.forwarded), "tcp:192.0.2.10:40001") << r.forwarded;
}

TEST(Stages, ByeFromPbxFollowsOurRoutesToThePhone) {
  StageFixture f;
  auto r = f.run(f.withDst(dataFile("msgs/bye-from-pbx.sip")), StageFixture::pbxAddr());
  ASSERT_EQ(r.verdict, Action::Continue) << r.reply;
  ASSERT_TRUE(r.target);
  EXPECT_EQ(r.target->text(), "udp:192.0.2.10:5062");
  EXPECT_FALSE(contains(r.forwarded, "Route:")) << r.forwarded;
  EXPECT_TRUE(contains(r.forwarded, "BYE sip:100@192.168.1.5:5062 SIP/2.0\r\n"));
}

TEST(Stages, StrictRouterRewriteIsUndone) {
  StageFixture f;
  auto r = f.run(f.withDst(dataFile("msgs/bye-strict.sip")), StageFixture::pbxAddr());
  ASSERT_EQ(r.verdict, Action::Continue) << r.reply;
  EXPECT_TRUE(contains(r.forwarded, "BYE sip:100@192.168.1.5:5062 SIP/2.0\r\n")) << r.forwarded;
  EXPECT_FALSE(contains(r.forwarded, "Route:")) << r.forwarded;
  EXPECT_EQ(r.target->text(), "udp:192.0.2.10:5062");
}

TEST(Stages, StrictNextHopGetsRequestUriRewritten) {
  StageFixture f;
  std::string m = replace(dataFile("msgs/bye-from-pbx.sip"), "Route: <sip:198.51.100.1:5060;lr;dst=@DST@>\r\n",
                          "Route: <sip:198.51.100.1:5060;lr>\r\nRoute: <sip:203.0.113.9:5060>\r\n");
  m = replace(m, "Route: <sip:10.0.0.1:5070;lr;dst=@DST@>\r\n", "");
  auto r = f.run(m, StageFixture::pbxAddr());
  ASSERT_EQ(r.verdict, Action::Continue) << r.reply;
  EXPECT_TRUE(contains(r.forwarded, "BYE sip:203.0.113.9:5060 SIP/2.0\r\n")) << r.forwarded;
  EXPECT_TRUE(contains(r.forwarded, "Route: <sip:100@192.168.1.5:5062>\r\n")) << r.forwarded;
  EXPECT_EQ(r.target->text(), "udp:203.0.113.9:5060");
  EXPECT_EQ(r.targetZone, proxy::Zone::Carrier);
}

TEST(Stages, MaxForwardsMissingIsAddedAndZeroIs483) {
  StageFixture f;
  auto r = f.run(replace(dataFile("msgs/invite.sip"), "Max-Forwards: 70\r\n", ""), StageFixture::phone());
  ASSERT_EQ(r.verdict, Action::Continue);
  EXPECT_TRUE(contains(r.forwarded, "Max-Forwards: 70\r\n")) << r.forwarded;
  r = f.run(replace(dataFile("msgs/invite.sip"), "Max-Forwards: 70", "Max-Forwards: 0"), StageFixture::phone());
  ASSERT_EQ(r.verdict, Action::Answer);
  EXPECT_TRUE(contains(r.reply, "SIP/2.0 483 Too Many Hops\r\n")) << r.reply;
  EXPECT_TRUE(contains(r.reply, "To: <sip:bob@example.com>;tag=")) << r.reply;
  r = f.run(replace(dataFile("msgs/invite.sip"), "Max-Forwards: 70", "Max-Forwards: 4000000000"),
            StageFixture::phone());
  EXPECT_TRUE(contains(r.forwarded, "Max-Forwards: 69\r\n")) << r.forwarded;
}

TEST(Stages, SanityRejectsMissingHeadersAndMismatchedCSeq) {
  StageFixture f;
  auto r = f.run(replace(dataFile("msgs/invite.sip"), "Call-ID: inv-1@192.168.1.5\r\n", ""), StageFixture::phone());
  EXPECT_TRUE(contains(r.reply, "SIP/2.0 400 Missing Call-ID")) << r.reply;
  r = f.run(replace(dataFile("msgs/invite.sip"), "CSeq: 1 INVITE", "CSeq: 1 BYE"), StageFixture::phone());
  EXPECT_TRUE(contains(r.reply, "SIP/2.0 400 CSeq Does Not Match Method")) << r.reply;
  r = f.run(replace(dataFile("msgs/invite.sip"), "Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nProxy-Require: foo\r\n"),
            StageFixture::phone());
  EXPECT_TRUE(contains(r.reply, "SIP/2.0 420 Bad Extension\r\n")) << r.reply;
  EXPECT_TRUE(contains(r.reply, "Unsupported: foo\r\n")) << r.reply;
}

TEST(Stages, NoPbxUpGives503) {
  StageFixture f;
  f.pbx->set(0, false);
  auto r = f.run(dataFile("msgs/invite.sip"), StageFixture::phone());
  EXPECT_EQ(r.target->text(), "udp:10.0.0.3:5080");  // the second PBX
  f.pbx->set(1, false);
  r = f.run(dataFile("msgs/invite.sip"), StageFixture::phone());
  EXPECT_TRUE(contains(r.reply, "SIP/2.0 503 Service Unavailable\r\n")) << r.reply;
  EXPECT_TRUE(contains(r.reply, "Retry-After: 5\r\n"));
}

TEST(Stages, ResponseFollowsNextViaAndLeavesByTheRequestsSocket) {
  StageFixture f;
  auto r = f.run(dataFile("msgs/ringing.sip"), StageFixture::pbxAddr());
  ASSERT_EQ(r.verdict, Action::Continue);
  EXPECT_EQ(r.target->text(), "udp:192.0.2.10:5062");  // received + rport
  EXPECT_FALSE(contains(r.forwarded, "10.0.0.1:5070")) << r.forwarded;
}

TEST(Stages, ResponsesNotOursAreDropped) {
  StageFixture f;
  auto r = f.run(replace(dataFile("msgs/ringing.sip"), "z9hG4bKse0000", "z9hG4bKxx0000"), StageFixture::pbxAddr());
  EXPECT_EQ(r.verdict, Action::Drop);
  EXPECT_TRUE(r.reply.empty());
  r = f.run(replace(dataFile("msgs/ringing.sip"), "10.0.0.1:5070", "10.0.0.99:5070"), StageFixture::pbxAddr());
  EXPECT_EQ(r.verdict, Action::Drop);
  EXPECT_EQ(f.env.counters.droppedResponses.get(), 2u);
}

TEST(Stages, BranchIsDeterministicAndSharedByCancel) {
  StageFixture f;
  auto branchOf = [&](const std::string& raw) {
    auto r = f.run(raw, StageFixture::phone());
    EXPECT_EQ(r.verdict, Action::Continue);
    auto b = r.forwarded.find(";branch=");  // our Via is the first
    return b == std::string::npos ? "" : r.forwarded.substr(b + 8, r.forwarded.find("\r\n", b) - b - 8);
  };
  std::string inv = dataFile("msgs/invite.sip");
  std::string b1 = branchOf(inv), b2 = branchOf(inv);
  EXPECT_EQ(b1, b2);
  EXPECT_EQ(b1.rfind("z9hG4bKse", 0), 0u);
  std::string cancel = replace(replace(inv, "INVITE sip:", "CANCEL sip:"), "CSeq: 1 INVITE", "CSeq: 1 CANCEL");
  EXPECT_EQ(branchOf(cancel), b1);
  std::string other = replace(inv, "z9hG4bKinv1", "z9hG4bKinv2");
  EXPECT_NE(branchOf(other), b1);
}

TEST(Stages, LoggingMasksNumbersUnlessAllowed) {
  std::string line = "From: \"Alice 0301234\" <sip:+4930123456@example.com>;tag=1 tel:+4930999";
  std::string masked = proxy::log::maskNumbers(line);
  EXPECT_EQ(masked.find("4930123456"), std::string::npos) << masked;
  EXPECT_EQ(masked.find("0301234"), std::string::npos) << masked;
  EXPECT_EQ(masked.find("4930999"), std::string::npos) << masked;
  EXPECT_NE(masked.find("example.com"), std::string::npos);
  proxy::log::setLevel(conf::LogLevel::Debug, true);
  EXPECT_EQ(proxy::log::maskNumbers(line), line);
  proxy::log::setLevel(conf::LogLevel::Info, false);
}

TEST(Stages, ForgedOrForeignDstIsIgnored) {
  StageFixture f;
  std::string m = dataFile("msgs/bye-from-pbx.sip");
  for (auto p = m.find("@DST@"); p != std::string::npos; p = m.find("@DST@")) m.replace(p, 5, "udp:6.6.6.6:5060");
  auto r = f.run(m, StageFixture::pbxAddr());
  ASSERT_EQ(r.verdict, Action::Continue);
  EXPECT_EQ(r.target->text(), "udp:192.168.1.5:5062");  // the Request-URI, not the forged dst
  proxy::RouteToken::Key other{};
  other.fill(9);
  proxy::RouteToken foreign(other);
  EXPECT_FALSE(f.tokens->open(foreign.seal(StageFixture::phone())));
  EXPECT_FALSE(f.tokens->open("AAAA"));
  EXPECT_FALSE(f.tokens->open(std::string(500, 'A')));
  auto v6 = proxy::Endpoint{proxy::Transport::Tcp, boost::asio::ip::make_address("2001:db8::1"), 5061};
  EXPECT_EQ(f.tokens->open(f.tokens->seal(v6))->text(), "tcp:[2001:db8::1]:5061");
}

// Headers no stage touched leave byte for byte (compact names, comma lists); the start line, CSeq and
// Content-Length leave in canonical form when a lenient parse accepted something else.
TEST(SipMessageSerialize, KeepsUntouchedHeadersAndCanonicalisesFraming) {
  auto out = [](const std::string& in) {
    auto m = proxy::SipMessage::parse(in.data(), in.size());
    std::string s;
    EXPECT_TRUE(m.valid() && m.serialize(s)) << in;
    return s;
  };
  std::string resp =
      "SIP/2.0  200 OK\r\nv: SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/UDP b.example;branch=z9hG4bK2\r\n"
      "f: <sip:a@x>;tag=1\r\nt: <sip:b@y>;tag=2\r\ni: c1\r\nCSeq: 5  MESSAGE\r\nl: 00\r\n\r\n";
  std::string r = out(resp);
  EXPECT_EQ(r.substr(0, r.find("\r\n")), "SIP/2.0 200 OK");
  EXPECT_NE(r.find("v: SIP/2.0/UDP a.example;branch=z9hG4bK1, SIP/2.0/UDP b.example;branch=z9hG4bK2\r\n"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("f: <sip:a@x>;tag=1\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("CSeq: 5 MESSAGE\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.find("00\r\n"), std::string::npos) << r;
  std::string bare =
      out("SIP/2.0 200\r\nVia: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n"
          "To: <sip:b@y>\r\nCall-ID: c2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(bare.rfind("SIP/2.0 200 ", 0), 0u) << bare;
  std::string req =
      out("INVITE  sip:b@y SIP/2.0\r\nVia: SIP/2.0/UDP a.example;branch=z9hG4bK1\r\nFrom: <sip:a@x>;tag=1\r\n"
          "To: <sip:b@y>\r\nCall-ID: c3\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(req.substr(0, req.find("\r\n")), "INVITE sip:b@y SIP/2.0");
}
