// RequestBuilder / ResponseBuilder: what they write parses back, and UAS responses echo what RFC 3261
// requires (Via list, From, Call-ID, CSeq, a stable To tag, Record-Route and Path where due).
#include "message_builder.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace sipbench {
namespace {

UacIdentity uacId() {
  UacIdentity id;
  id.local_ip = "127.0.0.1";
  id.local_hostport = "127.0.0.1:40000";
  id.domain = "example.com";
  id.callee = "service";
  id.expires = 120;
  return id;
}

struct Buf {
  std::array<char, 4096> data{};
  BufWriter w{data.data(), data.size()};
};

TEST(RequestBuilder, InviteParsesBackWithItsKey) {
  const RequestBuilder b(uacId());
  Buf buf;
  const TxnKey k{3, 17, 9, TxnPhase::Invite};
  b.invite(buf.w, k, 42);
  ASSERT_FALSE(buf.w.overflow());
  SipMessage m;
  ASSERT_EQ(parseMessage(buf.w.view(), m), ParseError::None);
  EXPECT_EQ(m.method, Method::Invite);
  EXPECT_EQ(m.request_uri, "sip:service@example.com");
  EXPECT_EQ(m.cseq_method, Method::Invite);
  EXPECT_EQ(m.body.size(), static_cast<std::size_t>(m.content_length));
  EXPECT_TRUE(m.body.starts_with("v=0\r\n"));
  ViaInfo v;
  ASSERT_TRUE(parseVia(m.vias[0], v));
  TxnKey back;
  ASSERT_TRUE(parseBranch(v.branch, back));
  EXPECT_EQ(back.worker, 3u);
  EXPECT_EQ(back.slot, 17u);
  EXPECT_EQ(back.gen, 9u);
  EXPECT_EQ(back.phase, TxnPhase::Invite);
  EXPECT_NE(m.from.find("user42@example.com"), std::string_view::npos);
  EXPECT_FALSE(tagOf(m.from).empty());
}

TEST(RequestBuilder, RegisterCarriesUserContactAndExpires) {
  const RequestBuilder b(uacId());
  Buf buf;
  b.registration(buf.w, TxnKey{0, 1, 1, TxnPhase::Register}, 7);
  SipMessage m;
  ASSERT_EQ(parseMessage(buf.w.view(), m), ParseError::None);
  EXPECT_EQ(m.method, Method::Register);
  EXPECT_EQ(m.request_uri, "sip:example.com");
  EXPECT_EQ(m.to, "<sip:user7@example.com>");
  ASSERT_EQ(m.contacts.size(), 1u);
  EXPECT_EQ(m.contacts[0], "<sip:user7@127.0.0.1:40000>");
  EXPECT_EQ(m.expires.value_or(0), 120u);
}

TEST(Branch, RejectsForeignBranches) {
  TxnKey k;
  EXPECT_FALSE(parseBranch("z9hG4bK776asdhds", k));
  EXPECT_FALSE(parseBranch("z9hG4bKsb1.2.3", k));
  EXPECT_FALSE(parseBranch("z9hG4bKsb1.2.3.x", k));
  EXPECT_FALSE(parseBranch("z9hG4bKsb1.2.3.ii", k));
  EXPECT_FALSE(parseBranch("z9hG4bKsb..3.i", k));
  EXPECT_FALSE(parseBranch("z9hG4bKsb1ffffffffff.2.3.i", k));
  EXPECT_TRUE(parseBranch("z9hG4bKsbff.0.1.b", k));
  EXPECT_EQ(k.worker, 255u);
}

const std::string kProxiedInvite =
    "INVITE sip:service@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKproxy\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKsb0.1.2.i;rport=40000\r\n"
    "Record-Route: <sip:10.0.0.1:5070;lr>\r\n"
    "From: <sip:user1@example.com>;tag=abc\r\n"
    "To: <sip:service@example.com>\r\n"
    "Call-ID: cid-1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Content-Length: 0\r\n\r\n";

TEST(ResponseBuilder, DialogResponseEchoesViasRecordRouteAndAddsStableTag) {
  const ResponseBuilder rb(UasIdentity{"127.0.0.1", "<sip:uas@127.0.0.1:5060>"});
  SipMessage req;
  ASSERT_EQ(parseMessage(kProxiedInvite, req), ParseError::None);
  ResponseSpec spec;
  spec.record_route = spec.contact = spec.sdp = true;
  Buf a;
  Buf b;
  rb.build(a.w, req, spec);
  rb.build(b.w, req, spec);
  EXPECT_EQ(a.w.view(), b.w.view());  // deterministic: retransmissions match
  SipMessage resp;
  ASSERT_EQ(parseMessage(a.w.view(), resp), ParseError::None);
  EXPECT_EQ(resp.status, 200);
  ASSERT_EQ(resp.vias.size(), 2u);
  EXPECT_EQ(resp.vias[0], req.vias[0]);
  EXPECT_EQ(resp.vias[1], req.vias[1]);
  ASSERT_EQ(resp.record_routes.size(), 1u);
  EXPECT_EQ(resp.record_routes[0], "<sip:10.0.0.1:5070;lr>");
  EXPECT_EQ(resp.from, req.from);
  EXPECT_EQ(resp.call_id, "cid-1");
  EXPECT_EQ(resp.cseq, 1u);
  EXPECT_EQ(resp.cseq_method, Method::Invite);
  EXPECT_FALSE(tagOf(resp.to).empty());
  ASSERT_EQ(resp.contacts.size(), 1u);
  EXPECT_EQ(resp.body.size(), static_cast<std::size_t>(resp.content_length));
  EXPECT_GT(resp.content_length, 0);
}

TEST(ResponseBuilder, TryingHasNoTagAndCancel487SaysInvite) {
  const ResponseBuilder rb(UasIdentity{"127.0.0.1", "<sip:uas@127.0.0.1:5060>"});
  SipMessage req;
  ASSERT_EQ(parseMessage(kProxiedInvite, req), ParseError::None);
  ResponseSpec trying{100, "Trying"};
  trying.add_tag = false;
  Buf a;
  rb.build(a.w, req, trying);
  SipMessage r;
  ASSERT_EQ(parseMessage(a.w.view(), r), ParseError::None);
  EXPECT_TRUE(tagOf(r.to).empty());
  EXPECT_TRUE(r.record_routes.empty());

  ResponseSpec t487{487, "Request Terminated"};
  t487.cseq_method = Method::Invite;
  Buf b;
  rb.build(b.w, req, t487);
  ASSERT_EQ(parseMessage(b.w.view(), r), ParseError::None);
  EXPECT_EQ(r.status, 487);
  EXPECT_EQ(r.cseq_method_token, "INVITE");
}

TEST(ResponseBuilder, RegistrarEchoesBindingsWithExpiresAndPath) {
  const std::string reg =
      "REGISTER sip:example.com SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKp\r\n"
      "Path: <sip:10.0.0.1:5070;lr>\r\n"
      "From: <sip:user1@example.com>;tag=1\r\n"
      "To: <sip:user1@example.com>\r\n"
      "Call-ID: r1\r\n"
      "CSeq: 5 REGISTER\r\n"
      "Contact: <sip:user1@1.2.3.4:5060>, <sip:user1@1.2.3.4:5062>;expires=30, <sip:gone@h>;expires=0\r\n"
      "Expires: 300\r\n"
      "Content-Length: 0\r\n\r\n";
  const ResponseBuilder rb(UasIdentity{"127.0.0.1", "<sip:uas@127.0.0.1:5060>"});
  SipMessage req;
  ASSERT_EQ(parseMessage(reg, req), ParseError::None);
  ResponseSpec spec;
  spec.registrar = true;
  Buf a;
  rb.build(a.w, req, spec);
  SipMessage r;
  ASSERT_EQ(parseMessage(a.w.view(), r), ParseError::None);
  ASSERT_EQ(r.contacts.size(), 2u);
  EXPECT_EQ(r.contacts[0], "<sip:user1@1.2.3.4:5060>;expires=300");
  EXPECT_EQ(r.contacts[1], "<sip:user1@1.2.3.4:5062>;expires=30");
  ASSERT_EQ(r.paths.size(), 1u);
  EXPECT_EQ(r.paths[0], "<sip:10.0.0.1:5070;lr>");
  EXPECT_EQ(r.cseq, 5u);
}

TEST(BufWriter, OverflowIsStickyAndNeverWritesPastTheEnd) {
  std::array<char, 8> data{};
  data.fill('#');
  BufWriter w(data.data(), 6);
  w.put("abc").putUint(123456).put("x");
  EXPECT_TRUE(w.overflow());
  EXPECT_EQ(data[6], '#');
}

}  // namespace
}  // namespace sipbench
