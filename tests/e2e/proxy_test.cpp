// End-to-end tests of the proxy: the real binary, real sockets on 127.0.0.x. Phones live on 127.0.0.1,
// the PBX on 127.0.0.2 (the core zone is recognised by address).
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "harness.h"

using namespace sipedge::test;

namespace {

// The tests' requests: Req's defaults (alice -> bob) with these fields.
std::string request(const std::string& method, const std::string& ruri, const Addr& from, const std::string& transport,
                    const std::string& callId, int cseq = 1, const std::string& extra = "",
                    const std::string& toTag = "") {
  Req r;
  r.method = method;
  r.ruri = ruri;
  r.transport = transport;
  r.callId = callId;
  r.cseq = cseq;
  r.extra = extra;
  r.toTag = toTag;
  return build(r, from);
}

class ProxyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pbx = std::make_unique<UdpPeer>("127.0.0.2");
    edge = std::make_unique<SipedgeProcess>(pbxToml({"udp:" + pbx->addr().hostport()}, 200, 150));
    ASSERT_TRUE(edge->started()) << edge->log();
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "---- sipedge log ----\n" << edge->log().substr(0, 20000);
  }
  std::unique_ptr<UdpPeer> pbx;
  std::unique_ptr<SipedgeProcess> edge;
};

}  // namespace

TEST_F(ProxyTest, AnswersOptionsAddressedToItOverUdp) {
  UdpPeer phone;
  phone.sendTo(edge->ports().udp,
               request("OPTIONS", "sip:" + edge->ports().udp.hostport(), phone.addr(), "UDP", "opt1"));
  auto r = phone.recv();
  ASSERT_TRUE(r);
  EXPECT_EQ(statusCode(*r), 200) << *r;
  EXPECT_NE(header(*r, "Via").find("received=127.0.0.1"), std::string::npos) << *r;
}

TEST_F(ProxyTest, AnswersOptionsAndCrlfKeepaliveOverTcp) {
  TcpPeer phone;
  ASSERT_TRUE(phone.connect(edge->ports().tcp));
  ASSERT_TRUE(phone.send("\r\n\r\n"));
  auto pong = phone.recvRaw(2);
  ASSERT_TRUE(pong);
  EXPECT_EQ(*pong, "\r\n");
  // A message split across writes is reassembled by Content-Length.
  std::string m =
      request("OPTIONS", "sip:" + edge->ports().tcp.hostport() + ";transport=tcp", phone.addr(), "TCP", "opt2");
  ASSERT_TRUE(phone.send(m.substr(0, 40)));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(phone.send(m.substr(40)));
  auto r = phone.recvMessage();
  ASSERT_TRUE(r);
  EXPECT_EQ(statusCode(*r), 200) << *r;
}

TEST_F(ProxyTest, ForwardsInviteFromPhoneToPbxAndResponsesBack) {
  UdpPeer phone;
  phone.sendTo(edge->ports().udp, request("INVITE", "sip:bob@example.com", phone.addr(), "UDP", "call1"));
  Addr from;
  auto fwd = pbx->recvSkippingPings(2000ms, &from);
  ASSERT_TRUE(fwd);
  EXPECT_EQ(firstLine(*fwd), "INVITE sip:bob@example.com SIP/2.0");
  auto vias = headers(*fwd, "Via");
  ASSERT_EQ(vias.size(), 2u) << *fwd;
  EXPECT_NE(vias[0].find("branch=z9hG4bKse"), std::string::npos);
  EXPECT_NE(vias[0].find(edge->ports().internalUdp[0].hostport()), std::string::npos) << vias[0];
  EXPECT_NE(vias[1].find("rport=" + std::to_string(phone.addr().port)), std::string::npos) << vias[1];
  EXPECT_EQ(header(*fwd, "Max-Forwards"), "69");
  auto rr = headers(*fwd, "Record-Route");
  ASSERT_EQ(rr.size(), 2u) << *fwd;  // zone changes access -> core: two entries
  EXPECT_NE(rr[0].find(edge->ports().internalUdp[0].hostport()), std::string::npos);
  EXPECT_NE(rr[1].find(edge->ports().udp.hostport()), std::string::npos);
  EXPECT_EQ(from.port, edge->ports().internalUdp[0].port);

  pbx->sendTo(from, respond(*fwd, 180, "Ringing"));
  auto ringing = phone.recv();
  ASSERT_TRUE(ringing);
  EXPECT_EQ(statusCode(*ringing), 180);
  EXPECT_EQ(headers(*ringing, "Via").size(), 1u) << *ringing;

  // A retransmitted INVITE gets the same branch (stateless, RFC 3261 §16.11).
  phone.sendTo(edge->ports().udp, request("INVITE", "sip:bob@example.com", phone.addr(), "UDP", "call1"));
  auto again = pbx->recvSkippingPings();
  ASSERT_TRUE(again);
  EXPECT_EQ(headers(*again, "Via")[0], vias[0]);
}

TEST_F(ProxyTest, RejectsMaxForwardsZeroWith483) {
  UdpPeer phone;
  std::string m = request("INVITE", "sip:bob@example.com", phone.addr(), "UDP", "mf0");
  auto pos = m.find("Max-Forwards: 70");
  m.replace(pos, 16, "Max-Forwards: 0");
  phone.sendTo(edge->ports().udp, m);
  auto r = phone.recv();
  ASSERT_TRUE(r);
  EXPECT_EQ(statusCode(*r), 483) << *r;
}

TEST_F(ProxyTest, RejectsGarbageWith400AndKeepsServing) {
  UdpPeer phone;
  phone.sendTo(edge->ports().udp,
               "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKx\r\n"
               "From: <sip:a@b>;tag=1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
  auto r = phone.recv();
  ASSERT_TRUE(r);
  EXPECT_EQ(statusCode(*r), 400) << *r;
  EXPECT_NE(firstLine(*r).find("To"), std::string::npos) << *r;
  phone.sendTo(edge->ports().udp, std::string("\x01\x02garbage\0\xff", 12));
  phone.sendTo(edge->ports().udp,
               request("OPTIONS", "sip:" + edge->ports().udp.hostport(), phone.addr(), "UDP", "opt3"));
  auto ok = phone.recv();
  ASSERT_TRUE(ok);
  EXPECT_EQ(statusCode(*ok), 200);
}

TEST(ProxyCli, VersionAndConfigErrors) {
  std::string out;
  EXPECT_EQ(runSipedge({"--version"}, out), 0);
  EXPECT_NE(out.find("sipedge "), std::string::npos);
  std::string dir = makeTempDir();
  {
    std::ofstream f(dir + "/bad.toml");
    f << "[server]\nworkers = 2\n\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1\"\nprot = 5060\n";
  }
  EXPECT_NE(runSipedge({"--check-config", dir + "/bad.toml"}, out), 0);
  EXPECT_NE(out.find(dir + "/bad.toml:7: option 'listen.prot': unknown option"), std::string::npos) << out;
  EXPECT_EQ(runSipedge({"--check-config", std::string(SIPEDGE_SOURCE_DIR) + "/conf/sipedge.toml"}, out), 0) << out;
  std::system(("rm -rf " + dir).c_str());
}

TEST_F(ProxyTest, CancelAndNon2xxAckShareTheInvitesBranch) {
  UdpPeer phone;
  std::string inv = request("INVITE", "sip:bob@example.com", phone.addr(), "UDP", "cx1");
  phone.sendTo(edge->ports().udp, inv);
  Addr from;
  auto fwdInv = pbx->recvSkippingPings(2000ms, &from);
  ASSERT_TRUE(fwdInv);
  std::string branch = headers(*fwdInv, "Via")[0];

  // CANCEL: same branch as the INVITE upstream, so the PBX can match it (RFC 3261 §9.2, §16.11).
  std::string cancel = inv;
  cancel.replace(0, 6, "CANCEL");
  cancel.replace(cancel.find("CSeq: 1 INVITE"), 14, "CSeq: 1 CANCEL");
  phone.sendTo(edge->ports().udp, cancel);
  auto fwdCancel = pbx->recvSkippingPings();
  ASSERT_TRUE(fwdCancel);
  EXPECT_EQ(firstLine(*fwdCancel), "CANCEL sip:bob@example.com SIP/2.0");
  EXPECT_EQ(headers(*fwdCancel, "Via")[0], branch);
  pbx->sendTo(from, respond(*fwdCancel, 200, "OK"));
  auto cancelOk = phone.recv();
  ASSERT_TRUE(cancelOk);
  EXPECT_EQ(statusCode(*cancelOk), 200);
  pbx->sendTo(from, respond(*fwdInv, 487, "Request Terminated"));
  auto terminated = phone.recv();
  ASSERT_TRUE(terminated);
  EXPECT_EQ(statusCode(*terminated), 487);

  // ACK for the 487: same branch again (it is part of the INVITE transaction).
  std::string ack = inv;
  ack.replace(0, 6, "ACK");
  ack.replace(ack.find("CSeq: 1 INVITE"), 14, "CSeq: 1 ACK");
  ack.replace(ack.find("To: <sip:bob@example.com>"), 25, "To: <sip:bob@example.com>;tag=uas1");
  phone.sendTo(edge->ports().udp, ack);
  auto fwdAck = pbx->recvSkippingPings();
  ASSERT_TRUE(fwdAck);
  EXPECT_EQ(firstLine(*fwdAck), "ACK sip:bob@example.com SIP/2.0");
  EXPECT_EQ(headers(*fwdAck, "Via")[0], branch);
}

TEST_F(ProxyTest, OversizedAndInjectedMessagesAreRejected) {
  UdpPeer phone;
  // 20 KiB header block: over limits.max_header_bytes (16 KiB) -> 513.
  std::string big = request("MESSAGE", "sip:bob@example.com", phone.addr(), "UDP", "big1", 1,
                            "X-Filler: " + std::string(20000, 'x') + "\r\n");
  phone.sendTo(edge->ports().udp, big);
  auto r = phone.recv();
  ASSERT_TRUE(r);
  EXPECT_EQ(statusCode(*r), 513) << firstLine(*r);
  // A bare LF inside the header block could smuggle a header past other parsers: 400, never forwarded.
  std::string injected = request("MESSAGE", "sip:bob@example.com", phone.addr(), "UDP", "inj1", 1,
                                 "Subject: hi\nP-Asserted-Identity: <sip:+1555@evil>\r\n");
  phone.sendTo(edge->ports().udp, injected);
  r = phone.recv();
  ASSERT_TRUE(r);
  EXPECT_EQ(statusCode(*r), 400) << *r;
  EXPECT_FALSE(pbx->recvSkippingPings(300ms)) << "an injected message reached the PBX";

  // Over TCP: a declared body beyond max_message_bytes gets 513 and the stream is closed.
  TcpPeer tcp;
  ASSERT_TRUE(tcp.connect(edge->ports().tcp));
  std::string hdr = "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP " + tcp.addr().hostport() +
                    ";branch=z9hG4bKbig2\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@b>\r\nCall-ID: big2\r\n"
                    "CSeq: 1 MESSAGE\r\nContent-Length: 900000\r\n\r\n";
  ASSERT_TRUE(tcp.send(hdr));
  auto tr = tcp.recvMessage();
  ASSERT_TRUE(tr);
  EXPECT_EQ(statusCode(*tr), 513) << *tr;
  EXPECT_TRUE(tcp.closedByPeer());
  // Still serving.
  phone.sendTo(edge->ports().udp, request("OPTIONS", "sip:" + edge->ports().udp.hostport(), phone.addr(), "UDP", "o9"));
  r = phone.recv();
  ASSERT_TRUE(r);
  EXPECT_EQ(statusCode(*r), 200);
}

TEST(ProxyTcp, IdleConnectionsAreClosed) {
  UdpPeer pbx("127.0.0.2");
  SipedgeProcess edge("[pbx]\ntargets = [\"udp:" + pbx.addr().hostport() + "\"]\n[limits]\ntcp_idle_timeout_s = 1\n");
  ASSERT_TRUE(edge.started()) << edge.log();
  TcpPeer c;
  ASSERT_TRUE(c.connect(edge.ports().tcp));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.closedByPeer(4000ms));
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(secs, 0.8);
  EXPECT_LT(secs, 3.5);
}
