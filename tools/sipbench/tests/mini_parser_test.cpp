// MiniParser: start lines, the headers sipbench reads, compact forms, folding, and hostile input.
#include "mini_parser.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace sipbench {
namespace {

const std::string kInvite =
    "INVITE sip:service@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKproxy1;rport=5070;received=10.0.0.9\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKsb0.1.2.i;rport\r\n"
    "Max-Forwards: 69\r\n"
    "Record-Route: <sip:10.0.0.1:5070;lr>\r\n"
    "Record-Route: <sip:10.0.0.2;lr>, <sip:10.0.0.3;lr;transport=udp>\r\n"
    "From: \"Al, B\" <sip:user1@example.com>;tag=abc\r\n"
    "To: <sip:service@example.com>\r\n"
    "Call-ID: 1-2-3@127.0.0.1:40000\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:user1@127.0.0.1:40000>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "v=0\n";

TEST(MiniParser, ParsesRequestAndHeaders) {
  SipMessage m;
  ASSERT_EQ(parseMessage(kInvite, m), ParseError::None);
  EXPECT_TRUE(m.is_request);
  EXPECT_EQ(m.method, Method::Invite);
  EXPECT_EQ(m.request_uri, "sip:service@127.0.0.1");
  ASSERT_EQ(m.vias.size(), 2u);
  EXPECT_EQ(m.vias[0], "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKproxy1;rport=5070;received=10.0.0.9");
  ASSERT_EQ(m.record_routes.size(), 2u);
  EXPECT_EQ(m.record_routes[1], "<sip:10.0.0.2;lr>, <sip:10.0.0.3;lr;transport=udp>");
  EXPECT_EQ(m.call_id, "1-2-3@127.0.0.1:40000");
  EXPECT_EQ(m.cseq, 1u);
  EXPECT_EQ(m.cseq_method, Method::Invite);
  EXPECT_EQ(tagOf(m.from), "abc");
  EXPECT_EQ(tagOf(m.to), "");
  ASSERT_EQ(m.contacts.size(), 1u);
  EXPECT_EQ(m.content_length, 4);
  EXPECT_EQ(m.body, "v=0\n");
}

TEST(MiniParser, ParsesStatusLineAndCompactForms) {
  const std::string msg =
      "SIP/2.0 180 Ringing\r\n"
      "v: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1\r\n"
      "f: <sip:a@b>;tag=1\r\n"
      "t: <sip:c@d>;tag=2\r\n"
      "i: cid\r\n"
      "CSeq: 7 BYE\r\n"
      "m: <sip:c@127.0.0.1:5099>\r\n"
      "l: 0\r\n\r\n";
  SipMessage m;
  ASSERT_EQ(parseMessage(msg, m), ParseError::None);
  EXPECT_FALSE(m.is_request);
  EXPECT_EQ(m.status, 180);
  EXPECT_EQ(m.reason, "Ringing");
  EXPECT_EQ(m.cseq, 7u);
  EXPECT_EQ(m.cseq_method, Method::Bye);
  EXPECT_EQ(m.call_id, "cid");
  EXPECT_EQ(tagOf(m.to), "2");
  EXPECT_EQ(m.content_length, 0);
  EXPECT_TRUE(m.body.empty());
}

TEST(MiniParser, HeaderNamesAreCaseInsensitiveAndFoldedValuesJoin) {
  const std::string msg =
      "OPTIONS sip:x SIP/2.0\r\n"
      "VIA: SIP/2.0/UDP h;branch=z9hG4bK2\r\n"
      "from: <sip:a@b>\r\n"
      " ;tag=folded\r\n"
      "TO: <sip:c@d>\r\n"
      "call-id: x\r\n"
      "cseq:   3   OPTIONS\r\n"
      "expires: 60\r\n"
      "\r\n";
  SipMessage m;
  ASSERT_EQ(parseMessage(msg, m), ParseError::None);
  EXPECT_EQ(tagOf(m.from), "folded");
  EXPECT_EQ(m.cseq, 3u);
  EXPECT_EQ(m.cseq_method, Method::Options);
  ASSERT_TRUE(m.expires.has_value());
  EXPECT_EQ(*m.expires, 60u);
  EXPECT_TRUE(m.body.empty());  // no Content-Length on UDP: the rest of the datagram, here nothing
}

TEST(MiniParser, AcceptsBareLfAndLeadingCrlf) {
  const std::string msg =
      "\r\n\r\nBYE sip:x SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: a;tag=1\nTo: b\nCall-ID: c\nCSeq: 2 BYE\n\n";
  SipMessage m;
  ASSERT_EQ(parseMessage(msg, m), ParseError::None);
  EXPECT_EQ(m.method, Method::Bye);
}

TEST(MiniParser, RejectsMalformedInput) {
  SipMessage m;
  EXPECT_EQ(parseMessage("", m), ParseError::Empty);
  EXPECT_EQ(parseMessage("\r\n\r\n", m), ParseError::Empty);
  EXPECT_EQ(parseMessage("INVITE sip:x SIP/2.0", m), ParseError::Truncated);
  EXPECT_EQ(parseMessage("INVITE sip:x\r\n\r\n", m), ParseError::BadStartLine);
  EXPECT_EQ(parseMessage("INVITE  SIP/2.0\r\n\r\n", m), ParseError::BadStartLine);
  EXPECT_EQ(parseMessage("SIP/2.0 99 Low\r\n\r\n", m), ParseError::BadStartLine);
  EXPECT_EQ(parseMessage("SIP/2.0 2x0 OK\r\n\r\n", m), ParseError::BadStartLine);
  EXPECT_EQ(parseMessage("OPTIONS sip:x SIP/2.0\r\nNoColonHere\r\n\r\n", m), ParseError::BadHeader);
  EXPECT_EQ(parseMessage("OPTIONS sip:x SIP/2.0\r\n folded-first\r\n\r\n", m), ParseError::BadHeader);
  EXPECT_EQ(parseMessage("OPTIONS sip:x SIP/2.0\r\nVia: v\r\n\r\n", m), ParseError::MissingHeader);
  const std::string base = "OPTIONS sip:x SIP/2.0\r\nVia: v\r\nFrom: f\r\nTo: t\r\nCall-ID: c\r\n";
  EXPECT_EQ(parseMessage(base + "CSeq: OPTIONS\r\n\r\n", m), ParseError::BadCSeq);
  EXPECT_EQ(parseMessage(base + "CSeq: 99999999999 OPTIONS\r\n\r\n", m), ParseError::BadCSeq);
  EXPECT_EQ(parseMessage(base + "CSeq: 1OPTIONS\r\n\r\n", m), ParseError::BadCSeq);
  EXPECT_EQ(parseMessage(base + "CSeq: 1 OPTIONS\r\nContent-Length: -1\r\n\r\n", m), ParseError::BadContentLength);
  EXPECT_EQ(parseMessage(base + "CSeq: 1 OPTIONS\r\nContent-Length: 10\r\n\r\nshort", m), ParseError::Truncated);
  EXPECT_EQ(parseMessage(base + "CSeq: 1 OPTIONS\r\n", m), ParseError::Truncated);
}

TEST(MiniParser, SurvivesEveryTruncationOfAValidMessage) {
  // Every prefix must give a clean verdict, never a read past the end (run under ASan to see it).
  for (std::size_t n = 0; n < kInvite.size(); ++n) {
    SipMessage m;
    EXPECT_NE(parseMessage(std::string_view(kInvite).substr(0, n), m), ParseError::None) << "prefix " << n;
  }
}

TEST(MiniParser, ViewListDropsOverflowInsteadOfAllocating) {
  std::string msg = "OPTIONS sip:x SIP/2.0\r\n";
  for (int i = 0; i < 20; ++i) msg += "Via: SIP/2.0/UDP h" + std::to_string(i) + "\r\n";
  msg += "From: f\r\nTo: t\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
  SipMessage m;
  ASSERT_EQ(parseMessage(msg, m), ParseError::None);
  EXPECT_EQ(m.vias.size(), 16u);
  EXPECT_TRUE(m.vias.overflow());
}

TEST(ListElements, SplitsOnTopLevelCommasOnly) {
  std::vector<std::string> got;
  forEachListElement(R"("A, B" <sip:a@h;x=1,2>;tag=1 , <sip:b@h>,,sip:c@h)", [&](std::string_view e) {
    got.emplace_back(e);
    return true;
  });
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], R"("A, B" <sip:a@h;x=1,2>;tag=1)");
  EXPECT_EQ(got[1], "<sip:b@h>");
  EXPECT_EQ(got[2], "sip:c@h");
  EXPECT_EQ(firstListElement(" <sip:x>, <sip:y>"), "<sip:x>");
}

TEST(NameAddr, SeparatesUriFromHeaderParams) {
  NameAddr na = parseNameAddr(R"("Bob <boss>" <sip:bob@h;lr>;tag=9;expires=30)");
  EXPECT_EQ(na.uri, "sip:bob@h;lr");
  EXPECT_EQ(na.params, ";tag=9;expires=30");
  EXPECT_EQ(findParam(na.params, "EXPIRES").value_or("none"), "30");
  EXPECT_FALSE(findParam(na.params, "lr").has_value());
  na = parseNameAddr("sip:bob@h;tag=1");
  EXPECT_EQ(na.uri, "sip:bob@h");
  EXPECT_EQ(findParam(na.params, "tag").value_or(""), "1");
}

TEST(SipUriParse, HostPortUserAndLr) {
  SipUri u;
  ASSERT_TRUE(parseSipUri("sip:alice@10.1.2.3:5070;transport=udp;lr", u));
  EXPECT_EQ(u.user, "alice");
  EXPECT_EQ(u.host, "10.1.2.3");
  EXPECT_EQ(u.port, 5070);
  EXPECT_TRUE(u.lr);
  ASSERT_TRUE(parseSipUri("sips:[::1]:5061", u));
  EXPECT_EQ(u.host, "[::1]");
  EXPECT_EQ(u.port, 5061);
  EXPECT_FALSE(u.lr);
  ASSERT_TRUE(parseSipUri("sip:proxy.example.com", u));
  EXPECT_EQ(u.port, 0);
  EXPECT_FALSE(parseSipUri("tel:+1234", u));
  EXPECT_FALSE(parseSipUri("sip:h:99999", u));
  EXPECT_FALSE(parseSipUri("sip:", u));
}

TEST(ViaParse, BranchReceivedRport) {
  ViaInfo v;
  ASSERT_TRUE(parseVia("SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKx;rport=4000;received=1.2.3.4, SIP/2.0/UDP other", v));
  EXPECT_EQ(v.transport, "UDP");
  EXPECT_EQ(v.host, "10.0.0.1");
  EXPECT_EQ(v.port, 5070);
  EXPECT_EQ(v.branch, "z9hG4bKx");
  EXPECT_EQ(v.received, "1.2.3.4");
  EXPECT_TRUE(v.has_rport);
  EXPECT_EQ(v.rport, 4000);
  ASSERT_TRUE(parseVia("SIP/2.0/TCP host;rport", v));
  EXPECT_EQ(v.port, 0);
  EXPECT_TRUE(v.has_rport);
  EXPECT_EQ(v.rport, 0);
  EXPECT_FALSE(parseVia("HTTP/1.1 host", v));
  EXPECT_FALSE(parseVia("SIP/2.0/UDP", v));
}

TEST(Methods, CaseSensitiveTokens) {
  EXPECT_EQ(methodFromToken("REGISTER"), Method::Register);
  EXPECT_EQ(methodFromToken("register"), Method::Unknown);
  EXPECT_EQ(methodName(Method::Cancel), "CANCEL");
}

}  // namespace
}  // namespace sipbench

namespace sipbench {
namespace {

TEST(MiniParser, RandomMutationsNeverCrash) {
  // Bounded and seeded: flips, inserts and deletes bytes of a valid message and parses each result.
  std::mt19937 rng(12345);
  const char kAlphabet[] = "\r\n :;,<>\"\\=0123456789aZ\t";
  for (int iter = 0; iter < 20000; ++iter) {
    std::string m = kInvite;
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits && !m.empty(); ++e) {
      const std::size_t pos = rng() % m.size();
      const char c = kAlphabet[rng() % (sizeof kAlphabet - 1)];
      switch (rng() % 3) {
        case 0:
          m[pos] = c;
          break;
        case 1:
          m.insert(m.begin() + static_cast<std::ptrdiff_t>(pos), c);
          break;
        default:
          m.erase(pos, 1 + rng() % 4);
          break;
      }
    }
    SipMessage out;
    if (parseMessage(m, out) == ParseError::None) {
      // Whatever parsed must stay inside the input.
      const char* lo = m.data();
      const char* hi = m.data() + m.size();
      for (std::string_view v : {out.from, out.to, out.call_id, out.body, out.vias[0]}) {
        ASSERT_TRUE(v.empty() || (v.data() >= lo && v.data() + v.size() <= hi));
      }
      ViaInfo via;
      parseVia(out.vias[0], via);
      for (std::string_view c : out.contacts) parseNameAddr(c);
    }
  }
}

}  // namespace
}  // namespace sipbench
