// SipMessage's header edits on raw messages: what they change leaves changed, what they do not touch leaves as it
// came, and the identity headers of RFC 3325 / RFC 3323 (and Remote-Party-ID) are typed headers.
#include "proxy/sip_message.h"

#include <gtest/gtest.h>

#include "stage_fixture.h"

using sipedge::proxy::SipMessage;
using sipedge::test::dataFile;

namespace {

SipMessage parsed(const std::string& raw) {
  auto m = SipMessage::parse(raw.data(), raw.size());
  EXPECT_TRUE(m.valid());
  return m;
}

std::string encoded(SipMessage& m) {
  std::string out;
  EXPECT_TRUE(m.serialize(out));
  return out;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST(SipMessage, IdentityHeadersAreTypedNotUnknown) {
  auto m = parsed(dataFile("msgs/invite-identity.sip"));
  auto* pai = reinterpret_cast<sip_p_asserted_identity_t*>(m.find(sip_p_asserted_identity_class));
  ASSERT_NE(pai, nullptr);
  EXPECT_STREQ(pai->paid_url->url_user, "+4930111222");
  EXPECT_NE(m.find(sip_p_preferred_identity_class), nullptr);
  EXPECT_NE(m.find(sip_remote_party_id_class), nullptr);
  ASSERT_NE(m.sip()->sip_privacy, nullptr);
  EXPECT_STREQ(m.sip()->sip_privacy->priv_values[0], "none");
  // Only History-Info, Diversion and X-Internal are left to the unknown list.
  int unknown = 0;
  for (const sip_unknown_t* u = m.sip()->sip_unknown; u; u = u->un_next) ++unknown;
  EXPECT_EQ(unknown, 4);
  EXPECT_EQ(m.sip()->sip_error, nullptr);
}

TEST(SipMessage, RemoveEveryHeaderOfAClassAndByUnknownName) {
  auto m = parsed(dataFile("msgs/invite-identity.sip"));
  EXPECT_EQ(m.remove(sip_p_asserted_identity_class), 1u);
  EXPECT_EQ(m.remove(sip_remote_party_id_class), 1u);
  EXPECT_EQ(m.remove(sip_p_asserted_identity_class), 0u);
  EXPECT_EQ(m.removeUnknown("History-Info"), 2u);  // any case: "history-info" too
  EXPECT_EQ(m.removeUnknown("diversion"), 1u);
  EXPECT_EQ(m.findUnknown("History-Info"), nullptr);
  std::string out = encoded(m);
  EXPECT_FALSE(contains(out, "+4930111222")) << out;
  EXPECT_TRUE(contains(out, "P-Preferred-Identity: <sip:+4930111223@example.com>\r\n")) << out;
  EXPECT_TRUE(contains(out, "X-Internal: keep\r\n")) << out;
  EXPECT_TRUE(contains(out, "Privacy: none\r\n")) << out;
}

TEST(SipMessage, ReplaceAddAndInsertKeepTheOrderOfAKind) {
  auto m = parsed(dataFile("msgs/invite-identity.sip"));
  ASSERT_TRUE(m.replace(sip_p_asserted_identity_class, "<sip:+4930999000@example.com>"));
  ASSERT_TRUE(m.insert(sip_via_class, "SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bKtop"));
  ASSERT_TRUE(m.add(sip_route_class, "<sip:10.0.0.8;lr>"));
  ASSERT_TRUE(m.add(sip_route_class, "<sip:10.0.0.9;lr>"));
  ASSERT_TRUE(m.addUnknown("X-Added", "1"));
  std::string out = encoded(m);
  EXPECT_TRUE(contains(out, "P-Asserted-Identity: <sip:+4930999000@example.com>\r\n")) << out;
  EXPECT_FALSE(contains(out, "+4930111222@example.com>\r\nP-Preferred")) << out;
  auto top = out.find("z9hG4bKtop"), next = out.find("z9hG4bKpbx1");
  ASSERT_NE(top, std::string::npos);
  EXPECT_LT(top, next);
  auto first = out.find("Route: <sip:10.0.0.8;lr>"), second = out.find("Route: <sip:10.0.0.9;lr>");
  ASSERT_NE(first, std::string::npos) << out;
  EXPECT_LT(first, second);
  EXPECT_TRUE(contains(out, "X-Added: 1\r\n")) << out;
  EXPECT_FALSE(m.insert(sip_via_class, "not a via"));
}

TEST(SipMessage, ParamsAndFieldEditsArePrintedAgainTheRestIsCopied) {
  // Odd spacing sofia accepts: an untouched header leaves byte for byte, an edited one in canonical form.
  std::string raw = dataFile("msgs/invite.sip");
  raw.replace(raw.find("Contact: <sip:100@"), 9, "Contact:   ");
  auto m = parsed(raw);
  ASSERT_TRUE(m.setParam(m.sip()->sip_via, "received=192.0.2.10"));
  m.sip()->sip_max_forwards->mf_count = 12;
  SipMessage::changed(m.sip()->sip_max_forwards);
  std::string out = encoded(m);
  EXPECT_TRUE(contains(out, "Via: SIP/2.0/UDP 192.168.1.5:5062;branch=z9hG4bKinv1;rport;received=192.0.2.10\r\n"))
      << out;
  EXPECT_TRUE(contains(out, "Max-Forwards: 12\r\n")) << out;
  EXPECT_TRUE(contains(out, "Contact:   <sip:100@192.168.1.5:5062>\r\n")) << out;
}

TEST(SipMessage, RequestUriAndFirstRoute) {
  auto m = parsed(dataFile("msgs/invite.sip"));
  ASSERT_TRUE(m.add(sip_route_class, "<sip:10.0.0.7;lr>"));
  ASSERT_TRUE(m.add(sip_route_class, "<sip:10.0.0.8;lr>"));
  url_t* u = url_hdup(m.home(), reinterpret_cast<const url_t*>(m.sip()->sip_route->r_url));
  ASSERT_TRUE(m.setRequestUri(u));
  ASSERT_TRUE(m.removeFirst(sip_route_class));
  std::string out = encoded(m);
  EXPECT_TRUE(out.starts_with("INVITE sip:10.0.0.7;lr SIP/2.0\r\n")) << out;
  EXPECT_FALSE(contains(out, "10.0.0.7;lr>")) << out;
  EXPECT_TRUE(contains(out, "Route: <sip:10.0.0.8;lr>\r\n")) << out;
  EXPECT_TRUE(m.removeFirst(sip_route_class));
  EXPECT_FALSE(m.removeFirst(sip_route_class));
}
