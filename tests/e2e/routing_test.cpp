// End-to-end routing: Path and Record-Route round trips in both directions, loops, PBX failover, carriers,
// TCP and IPv6 phones. Phones on 127.0.0.1, PBX on 127.0.0.2 (and 127.0.0.3), a carrier on 127.0.0.4.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include "harness.h"

using namespace sipedge::test;

namespace {

class Routing : public ::testing::Test {
 protected:
  void start(const std::string& toml, int workers = 1) {
    edge = std::make_unique<SipedgeProcess>(toml, workers);
    ASSERT_TRUE(edge->started()) << edge->log();
  }
  void TearDown() override {
    if (HasFailure() && edge) std::cerr << "---- sipedge log ----\n" << edge->log().substr(0, 30000);
  }
  std::unique_ptr<SipedgeProcess> edge;
};

}  // namespace

TEST_F(Routing, RegisterThroughPathThenPbxCallsPhoneAndHangsUp) {
  UdpPeer pbx("127.0.0.2");
  start(pbxToml({"udp:" + pbx.addr().hostport()}));
  UdpPeer phone;
  Req reg;
  reg.method = "REGISTER";
  reg.ruri = "sip:example.com";
  reg.callId = "reg1";
  // The phone believes it is 10.9.9.9 (behind NAT); only its source address is real.
  phone.sendTo(edge->ports().udp, build(reg, phone.addr(), "10.9.9.9:5060"));
  Addr from;
  auto r = pbx.recvSkippingPings(2000ms, &from);
  ASSERT_TRUE(r);
  auto path = header(*r, "Path");
  ASSERT_FALSE(path.empty()) << *r;
  EXPECT_NE(path.find(edge->ports().internalUdp[0].hostport()), std::string::npos) << path;
  EXPECT_EQ(dstOf(*edge, path), "udp:127.0.0.1:" + std::to_string(phone.addr().port)) << path;
  EXPECT_NE(path.find(";lr"), std::string::npos);
  EXPECT_TRUE(header(*r, "Record-Route").empty());
  pbx.sendTo(from, respond(*r, 200, "OK", "reg", "Contact: <sip:alice@10.9.9.9:5060>;expires=3600\r\n"));
  auto ok = phone.recv();
  ASSERT_TRUE(ok);
  EXPECT_EQ(statusCode(*ok), 200);

  // The PBX calls the phone: Route from the stored Path, Request-URI = the phone's (unreachable) Contact.
  Req inv;
  inv.ruri = "sip:alice@10.9.9.9:5060";
  inv.callId = "in1";
  inv.fromTag = "pbx1";
  inv.extra = "Route: " + path + "\r\n";
  inv.contactUser = "pbx";
  Addr pbxSentBy = pbx.addr();
  pbx.sendTo(hostPortOf(uriOf(path)), build(inv, pbxSentBy));
  Addr f2;
  auto atPhone = phone.recv(2000ms, &f2);
  ASSERT_TRUE(atPhone);
  EXPECT_EQ(firstLine(*atPhone), "INVITE sip:alice@10.9.9.9:5060 SIP/2.0");
  EXPECT_TRUE(header(*atPhone, "Route").empty()) << *atPhone;
  EXPECT_EQ(f2.port, edge->ports().udp.port);  // from the public socket, through the NAT pinhole
  auto rr = headers(*atPhone, "Record-Route");
  ASSERT_EQ(rr.size(), 2u) << *atPhone;
  EXPECT_NE(rr[0].find(edge->ports().udp.hostport()), std::string::npos);
  EXPECT_NE(rr[1].find(edge->ports().internalUdp[0].hostport()), std::string::npos);

  phone.sendTo(edge->ports().udp, respond(*atPhone, 200, "OK", "ph1", "Contact: <sip:alice@10.9.9.9:5060>\r\n"));
  auto okAtPbx = pbx.recvSkippingPings();
  ASSERT_TRUE(okAtPbx);
  EXPECT_EQ(statusCode(*okAtPbx), 200);
  EXPECT_EQ(headers(*okAtPbx, "Via").size(), 1u) << *okAtPbx;

  // BYE from the PBX: route set = Record-Route of the 200 reversed (UAC).
  auto rr200 = headers(*okAtPbx, "Record-Route");
  ASSERT_EQ(rr200.size(), 2u);
  Req bye;
  bye.method = "BYE";
  bye.ruri = "sip:alice@10.9.9.9:5060";
  bye.callId = "in1";
  bye.cseq = 2;
  bye.fromTag = "pbx1";
  bye.toTag = "ph1";
  bye.extra = "Route: " + rr200[1] + "\r\nRoute: " + rr200[0] + "\r\n";
  pbx.sendTo(hostPortOf(uriOf(rr200[1])), build(bye, pbxSentBy));
  auto byeAtPhone = phone.recv();
  ASSERT_TRUE(byeAtPhone);
  EXPECT_EQ(firstLine(*byeAtPhone), "BYE sip:alice@10.9.9.9:5060 SIP/2.0");
  phone.sendTo(edge->ports().udp, respond(*byeAtPhone, 200, "OK"));
  auto byeOk = pbx.recvSkippingPings();
  ASSERT_TRUE(byeOk);
  EXPECT_EQ(statusCode(*byeOk), 200);
  EXPECT_NE(header(*byeOk, "CSeq").find("BYE"), std::string::npos);
}

TEST_F(Routing, PhoneCallsPbxThenBothDirectionsOfInDialogRequests) {
  UdpPeer pbx("127.0.0.2");
  start(pbxToml({"udp:" + pbx.addr().hostport()}));
  UdpPeer phone;
  Req inv;
  inv.callId = "out1";
  phone.sendTo(edge->ports().udp, build(inv, phone.addr(), "10.9.9.9:5060"));
  Addr from;
  auto atPbx = pbx.recvSkippingPings(2000ms, &from);
  ASSERT_TRUE(atPbx);
  auto rr = headers(*atPbx, "Record-Route");
  ASSERT_EQ(rr.size(), 2u);
  pbx.sendTo(from, respond(*atPbx, 200, "OK", "pbx9", "Contact: <sip:bob@" + pbx.addr().hostport() + ">\r\n"));
  auto ok = phone.recv();
  ASSERT_TRUE(ok);
  ASSERT_EQ(statusCode(*ok), 200);

  // ACK from the phone (UAC): route set = RR reversed, sent to the first entry.
  auto rrOk = headers(*ok, "Record-Route");
  ASSERT_EQ(rrOk.size(), 2u);
  Req ack;
  ack.method = "ACK";
  ack.ruri = "sip:bob@" + pbx.addr().hostport();
  ack.callId = "out1";
  ack.toTag = "pbx9";
  ack.extra = "Route: " + rrOk[1] + "\r\nRoute: " + rrOk[0] + "\r\n";
  phone.sendTo(edge->ports().udp, build(ack, phone.addr(), "10.9.9.9:5060"));
  auto ackAtPbx = pbx.recvSkippingPings();
  ASSERT_TRUE(ackAtPbx);
  EXPECT_EQ(firstLine(*ackAtPbx), "ACK sip:bob@" + pbx.addr().hostport() + " SIP/2.0");
  EXPECT_TRUE(header(*ackAtPbx, "Route").empty()) << *ackAtPbx;

  // BYE from the PBX (UAS): route set = RR as received, first entry first.
  Req bye;
  bye.method = "BYE";
  bye.ruri = "sip:alice@10.9.9.9:5060";
  bye.callId = "out1";
  bye.cseq = 1;
  bye.fromTag = "pbx9";
  bye.toTag = "a1";
  bye.extra = "Route: " + rr[0] + "\r\nRoute: " + rr[1] + "\r\n";
  pbx.sendTo(hostPortOf(uriOf(rr[0])), build(bye, pbx.addr()));
  auto byeAtPhone = phone.recv();
  ASSERT_TRUE(byeAtPhone) << "BYE from the PBX did not reach the phone";
  EXPECT_EQ(firstLine(*byeAtPhone), "BYE sip:alice@10.9.9.9:5060 SIP/2.0");
  phone.sendTo(edge->ports().udp, respond(*byeAtPhone, 200, "OK"));
  auto byeOk = pbx.recvSkippingPings();
  ASSERT_TRUE(byeOk);
  EXPECT_EQ(statusCode(*byeOk), 200);
}

TEST_F(Routing, RequestThatComesBackUnchangedIs482) {
  UdpPeer pbx("127.0.0.2");
  start(pbxToml({"udp:" + pbx.addr().hostport()}));
  UdpPeer phone;
  Req m;
  m.method = "MESSAGE";
  m.callId = "loop1";
  phone.sendTo(edge->ports().udp, build(m, phone.addr()));
  auto fwd = pbx.recvSkippingPings();
  ASSERT_TRUE(fwd);
  pbx.sendTo(edge->ports().udp, *fwd);  // the PBX sends it straight back
  auto r = pbx.recvSkippingPings();
  ASSERT_TRUE(r);
  EXPECT_EQ(statusCode(*r), 482) << *r;
}

TEST_F(Routing, SecondPbxTakesOverAnd503WhenNoneAnswers) {
  UdpPeer pbx1("127.0.0.2"), pbx2("127.0.0.3");
  start(pbxToml({"udp:" + pbx1.addr().hostport(), "udp:" + pbx2.addr().hostport()}));
  // pbx1 never answers pings; pbx2 does, from a background thread.
  std::atomic<bool> run{true};
  std::atomic<int> atPbx2{0};
  std::thread answer([&] {
    while (run) {
      Addr f;
      auto m = pbx2.recv(50ms, &f);
      if (!m) continue;
      if (m->rfind("OPTIONS", 0) == 0)
        pbx2.sendTo(f, respond(*m, 200, "OK"));
      else if (m->rfind("MESSAGE", 0) == 0)
        atPbx2++;
    }
  });
  std::this_thread::sleep_for(600ms);  // two missed rounds of 100 ms (+80 ms timeout)
  UdpPeer phone;
  Req m;
  m.method = "MESSAGE";
  m.callId = "fo1";
  phone.sendTo(edge->ports().udp, build(m, phone.addr()));
  for (int i = 0; i < 40 && atPbx2 == 0; ++i) std::this_thread::sleep_for(25ms);
  EXPECT_EQ(atPbx2, 1);
  run = false;
  answer.join();

  std::this_thread::sleep_for(600ms);  // now neither answers
  m.callId = "fo2";
  phone.sendTo(edge->ports().udp, build(m, phone.addr()));
  auto r = phone.recv();
  ASSERT_TRUE(r);
  EXPECT_EQ(statusCode(*r), 503) << *r;
  EXPECT_FALSE(header(*r, "Retry-After").empty());
}

TEST_F(Routing, OutboundCallGoesToCarrierAndInboundToPbx) {
  UdpPeer pbx("127.0.0.2"), carrier("127.0.0.4");
  start(pbxToml({"udp:" + pbx.addr().hostport()}) +
        "\n[[carrier]]\nname = \"trunk\"\ntarget = \"udp:" + carrier.addr().hostport() + "\"\n");
  Req out;
  out.ruri = "sip:+4930123456@" + edge->ports().internalUdp[0].hostport();
  out.callId = "car1";
  pbx.sendTo(edge->ports().internalUdp[0], build(out, pbx.addr()));
  Addr from;
  auto atCarrier = carrier.recv(2000ms, &from);
  ASSERT_TRUE(atCarrier);
  EXPECT_EQ(from.port, edge->ports().udp.port) << "carriers are reached from the public socket";
  EXPECT_EQ(headers(*atCarrier, "Record-Route").size(), 2u);
  carrier.sendTo(from, respond(*atCarrier, 183, "Session Progress"));
  auto back = pbx.recvSkippingPings();
  ASSERT_TRUE(back);
  EXPECT_EQ(statusCode(*back), 183);

  Req in;
  in.ruri = "sip:+4940999@" + edge->ports().udp.hostport();
  in.callId = "car2";
  carrier.sendTo(edge->ports().udp, build(in, carrier.addr()));
  auto atPbx = pbx.recvSkippingPings();
  ASSERT_TRUE(atPbx);
  EXPECT_EQ(firstLine(*atPbx), "INVITE sip:+4940999@" + edge->ports().udp.hostport() + " SIP/2.0");
}

TEST_F(Routing, PhonesCannotRelayThroughUs) {
  UdpPeer pbx("127.0.0.2");
  start(pbxToml({"udp:" + pbx.addr().hostport()}));
  UdpPeer phone;
  Req m;
  m.method = "MESSAGE";
  m.callId = "relay1";
  m.extra = "Route: <sip:127.0.0.9:5060;lr>\r\n";
  phone.sendTo(edge->ports().udp, build(m, phone.addr()));
  auto r = phone.recv();
  ASSERT_TRUE(r);
  EXPECT_EQ(statusCode(*r), 403) << *r;
}

TEST_F(Routing, TcpPhoneCallsUdpPbx) {
  UdpPeer pbx("127.0.0.2");
  start(pbxToml({"udp:" + pbx.addr().hostport()}));
  TcpPeer phone;
  ASSERT_TRUE(phone.connect(edge->ports().tcp));
  Req inv;
  inv.transport = "TCP";
  inv.callId = "tcp1";
  ASSERT_TRUE(phone.send(build(inv, phone.addr())));
  Addr from;
  auto atPbx = pbx.recvSkippingPings(2000ms, &from);
  ASSERT_TRUE(atPbx);
  auto rr = headers(*atPbx, "Record-Route");
  ASSERT_EQ(rr.size(), 2u);
  EXPECT_EQ(rr[0].find("transport=tcp"), std::string::npos) << rr[0];  // toward the PBX: UDP
  EXPECT_NE(rr[1].find("transport=tcp"), std::string::npos) << rr[1];  // toward the phone: TCP
  EXPECT_EQ(dstOf(*edge, rr[1]), "tcp:127.0.0.1:" + std::to_string(phone.addr().port)) << rr[1];
  pbx.sendTo(from, respond(*atPbx, 180, "Ringing"));
  auto ringing = phone.recvMessage();
  ASSERT_TRUE(ringing);
  EXPECT_EQ(statusCode(*ringing), 180);

  // In-dialog BYE from the PBX reaches the phone over its TCP connection.
  Req bye;
  bye.method = "BYE";
  bye.ruri = "sip:alice@" + phone.addr().hostport() + ";transport=tcp";
  bye.callId = "tcp1";
  bye.fromTag = "pbx";
  bye.toTag = "a1";
  bye.extra = "Route: " + rr[0] + "\r\nRoute: " + rr[1] + "\r\n";
  pbx.sendTo(hostPortOf(uriOf(rr[0])), build(bye, pbx.addr()));
  auto byeAtPhone = phone.recvMessage();
  ASSERT_TRUE(byeAtPhone);
  EXPECT_EQ(firstLine(*byeAtPhone).substr(0, 4), "BYE ");
}

TEST_F(Routing, Ipv6PhoneIsServed) {
  UdpPeer pbx("127.0.0.2");
  std::string dir = makeTempDir();
  std::string toml =
      "[server]\nworkers = 1\ndata_dir = \"" + dir +
      "/data\"\n\n[[listen]]\ntransport = \"udp\"\n"
      "address = \"::1\"\nport = 0\n\n[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1\"\nport = 0\n\n"
      "[internal]\naddress = \"127.0.0.1\"\nport_base = 0\n\n" +
      pbxToml({"udp:" + pbx.addr().hostport()});
  edge = std::make_unique<SipedgeProcess>(toml, 1, true);
  ASSERT_TRUE(edge->started()) << edge->log();
  int fd = ::socket(AF_INET6, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in6 me{};
  me.sin6_family = AF_INET6;
  me.sin6_addr = in6addr_loopback;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&me), sizeof me), 0);
  socklen_t len = sizeof me;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&me), &len);
  int myPort = ntohs(me.sin6_port);
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  to.sin6_addr = in6addr_loopback;
  to.sin6_port = htons(static_cast<uint16_t>(edge->ports().udp.port));  // first listener is the v6 one
  Req inv;
  inv.callId = "v6call";
  std::string msg = build(inv, {"[::1]", myPort});
  ASSERT_GT(::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  Addr from;
  auto atPbx = pbx.recvSkippingPings(2000ms, &from);
  ASSERT_TRUE(atPbx);
  auto rr = headers(*atPbx, "Record-Route");
  ASSERT_EQ(rr.size(), 2u);
  EXPECT_NE(rr[1].find("[::1]:" + std::to_string(edge->ports().udp.port)), std::string::npos) << rr[1];
  EXPECT_EQ(dstOf(dir + "/data/route.key", rr[1]), "udp:[::1]:" + std::to_string(myPort)) << rr[1];
  pbx.sendTo(from, respond(*atPbx, 180, "Ringing"));
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  char buf[4096];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(statusCode(std::string(buf, static_cast<std::size_t>(n))), 180);
  ::close(fd);
  std::system(("rm -rf " + dir).c_str());
}

TEST_F(Routing, SigtermStopsCleanly) {
  UdpPeer pbx("127.0.0.2");
  start(pbxToml({"udp:" + pbx.addr().hostport()}), 2);
  EXPECT_EQ(edge->stop(), 0);
}

TEST_F(Routing, TwoWorkersHandCarrierResponsesToTheWorkerThatSentTheRequest) {
  UdpPeer pbx("127.0.0.2"), carrier("127.0.0.4");
  start(pbxToml({"udp:" + pbx.addr().hostport()}) +
            "\n[[carrier]]\nname = \"trunk\"\ntarget = \"udp:" + carrier.addr().hostport() + "\"\n",
        2);
  ASSERT_EQ(edge->ports().internalUdp.size(), 2u);
  const int calls = 20;
  for (int i = 0; i < calls; ++i) {
    Req out;
    Addr via = edge->ports().internalUdp[static_cast<std::size_t>(i % 2)];
    out.ruri = "sip:+49301234" + std::to_string(i) + "@" + via.hostport();
    out.callId = "w2-" + std::to_string(i);
    pbx.sendTo(via, build(out, pbx.addr()));
    Addr from;
    auto atCarrier = carrier.recv(2000ms, &from);
    ASSERT_TRUE(atCarrier) << "call " << i;
    carrier.sendTo(from, respond(*atCarrier, 180, "Ringing"));  // one 4-tuple: lands on one worker only
    auto back = pbx.recvSkippingPings();
    ASSERT_TRUE(back) << "call " << i;
    EXPECT_EQ(statusCode(*back), 180);
    EXPECT_EQ(header(*back, "Call-ID"), out.callId);
  }
  ::kill(edge->pid(), SIGHUP);  // ignored, never fatal
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(edge->alive());
}

TEST_F(Routing, PhoneCannotForgePbxHealthAnswers) {
  UdpPeer pbx1("127.0.0.2"), pbx2("127.0.0.3");
  start(pbxToml({"udp:" + pbx1.addr().hostport(), "udp:" + pbx2.addr().hostport()}));
  UdpPeer phone;
  std::atomic<bool> run{true};
  std::atomic<int> atPbx2{0};
  // pbx1 is dead, but a phone echoes every ping pbx1 receives back to sipedge's public port as a 200.
  std::thread spoof([&] {
    while (run) {
      auto m = pbx1.recv(20ms);
      if (m && m->rfind("OPTIONS", 0) == 0) phone.sendTo(edge->ports().udp, respond(*m, 200, "OK"));
    }
  });
  std::thread answer([&] {
    while (run) {
      Addr f;
      auto m = pbx2.recv(20ms, &f);
      if (!m) continue;
      if (m->rfind("OPTIONS", 0) == 0)
        pbx2.sendTo(f, respond(*m, 200, "OK"));
      else if (m->rfind("MESSAGE", 0) == 0)
        atPbx2++;
    }
  });
  std::this_thread::sleep_for(700ms);
  Req m;
  m.method = "MESSAGE";
  m.callId = "spoof1";
  phone.sendTo(edge->ports().udp, build(m, phone.addr()));
  for (int i = 0; i < 40 && atPbx2 == 0; ++i) std::this_thread::sleep_for(25ms);
  run = false;
  spoof.join();
  answer.join();
  EXPECT_EQ(atPbx2, 1) << "the forged answers kept the dead PBX in service";
}
