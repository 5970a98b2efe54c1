// End-to-end capture and store (issue 3): the real sipedge binary on real UDP sockets, phones on 127.0.0.1,
// 127.0.0.5 and 127.0.0.6, the PBX on 127.0.0.2; what capture stored is read back with the real `sipedge-ctl`
// binary (over data_dir/ctl.sock while sipedge runs, or opening the store itself once it stopped) and its JSON
// parsed. Every wait is a bounded poll.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "harness.h"
#include "tests/capture/data/mmdb_writer.h"

using namespace sipedge::test;
using Json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kTenant = "example.com";

// Yealink's OUI is 00:15:65, Grandstream's 00:0b:82: version-1 instance URNs whose node is the phone's MAC.
const std::string kYealinkUa = "Yealink SIP-T46S 66.86.0.15";
const std::string kYealinkInstance = "<urn:uuid:00000000-0000-1000-8000-001565aabbcc>";
const std::string kYealinkMac = "00:15:65:aa:bb:cc";
const std::string kZoiperUa = "Zoiper rv2.10.20.2";
const std::string kGrandstreamUa = "Grandstream GXP2170 1.0.11.23";
const std::string kGrandstreamInstance = "<urn:uuid:00000000-0000-1000-8000-000b82123456>";
const std::string kGrandstreamMac = "00:0b:82:12:34:56";

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ------------------------------------------------------------------ processes

struct RunResult {
  int rc = -1;  // exit status; 128+signal; -1 when it had to be killed (timeout)
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs argv[0] with arguments, stdout and stderr captured; killed (by its PID) after `timeout`.
// `giveUp`, polled while it runs, ends it early (killed, rc -1).
RunResult runBounded(const std::vector<std::string>& argv, std::chrono::milliseconds timeout = 15000ms,
                     const std::function<bool()>& giveUp = nullptr) {
  char outT[] = "/tmp/sipedge-capture-out-XXXXXX";
  char errT[] = "/tmp/sipedge-capture-err-XXXXXX";
  int outFd = ::mkstemp(outT), errFd = ::mkstemp(errT);
  RunResult r;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(outFd, 1);
    ::dup2(errFd, 2);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    ::execv(a[0], a.data());
    ::_exit(127);
  }
  ::close(outFd);
  ::close(errFd);
  auto end = std::chrono::steady_clock::now() + timeout;
  int st = 0;
  bool done = false;
  while (std::chrono::steady_clock::now() < end) {
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      done = true;
      break;
    }
    if (giveUp && giveUp()) break;
    std::this_thread::sleep_for(5ms);
  }
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &st, 0);
    r.rc = -1;
  } else {
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  r.out = slurp(outT);
  r.err = slurp(errT);
  ::unlink(outT);
  ::unlink(errT);
  return r;
}

RunResult ctl(const std::string& dataDir, std::vector<std::string> args) {
  std::vector<std::string> argv{SIPEDGE_CTL_PATH, "--data", dataDir};
  argv.insert(argv.end(), args.begin(), args.end());
  return runBounded(argv);
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

// The JSON `sipedge-ctl` printed; a test failure (and null) when it failed or printed something else.
Json ctlJson(const std::string& dataDir, const std::vector<std::string>& args) {
  auto r = ctl(dataDir, args);
  if (r.rc != 0) {
    ADD_FAILURE() << "sipedge-ctl " << joined(args) << " exited " << r.rc << ": " << r.err << r.out;
    return Json();
  }
  try {
    return Json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "sipedge-ctl " << joined(args) << " printed no JSON (" << e.what() << "): " << r.out;
    return Json();
  }
}

Json rowsOf(const std::string& dataDir, const std::string& cmd, const std::string& aor, const char* key,
            bool all = false) {
  std::vector<std::string> a{cmd, aor};
  if (all) a.push_back("--all");
  Json j = ctlJson(dataDir, a);
  if (!j.is_object() || !j.contains(key) || !j[key].is_array()) return Json::array();
  return j[key];
}
Json ipLog(const std::string& d, const std::string& aor) {
  return rowsOf(d, "iplog", aor, "ip_log");
}
Json devices(const std::string& d, const std::string& aor) {
  return rowsOf(d, "devices", aor, "devices");
}
Json cdrs(const std::string& d, const std::string& aor, bool all = false) {
  return rowsOf(d, "cdrs", aor, "cdrs", all);
}

std::set<std::string> usersOf(const std::string& d) {
  std::set<std::string> s;
  Json j = ctlJson(d, {"users"});
  if (j.is_object() && j.contains("users"))
    for (auto& u : j["users"]) s.insert(u.value("user", "") + "@" + u.value("tenant", ""));
  return s;
}

// Polls `pred` every 75 ms until it holds or `timeout` passes; returns the last result.
bool waitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 5000ms) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(75ms);
  }
}

const Json* findBy(const Json& rows, const std::string& field, const std::string& value) {
  for (auto& r : rows)
    if (r.value(field, "") == value) return &r;
  return nullptr;
}

// ------------------------------------------------------------------ SIP peers

struct Msg {
  std::string text;
  Addr from;
};

// The PBX on 127.0.0.2: a background thread answers sipedge's health pings (so the PBX stays up while a test
// waits on sipedge-ctl) and, when asked, answers REGISTERs 200 itself; everything else is queued for the test.
class Pbx {
 public:
  Pbx() : sock_("127.0.0.2") {
    thread_ = std::thread([this] { loop(); });
  }
  ~Pbx() {
    run_ = false;
    thread_.join();
  }
  Addr addr() const { return sock_.addr(); }
  std::string target() const { return "udp:" + addr().hostport(); }
  void send(const Addr& to, const std::string& m) { sock_.sendTo(to, m); }
  // The next message that is neither a ping nor auto-answered.
  std::optional<Msg> next(std::chrono::milliseconds timeout = 2000ms) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return !q_.empty(); })) return std::nullopt;
    Msg m = std::move(q_.front());
    q_.pop_front();
    return m;
  }
  std::size_t queued() {
    std::lock_guard lock(mu_);
    return q_.size();
  }

  std::atomic<bool> answerPings{true};
  std::atomic<bool> autoRegister{false};
  std::atomic<int> registersAnswered{0};

 private:
  void loop() {
    while (run_) {
      Addr f;
      auto m = sock_.recv(20ms, &f);
      if (!m) continue;
      if (m->rfind("OPTIONS ", 0) == 0 && header(*m, "Call-ID").rfind("sehc-", 0) == 0) {
        if (answerPings) sock_.sendTo(f, respond(*m, 200, "OK"));
        continue;
      }
      if (autoRegister && m->rfind("REGISTER ", 0) == 0) {
        sock_.sendTo(f, respond(*m, 200, "OK", "reg", "Contact: " + header(*m, "Contact") + ";expires=3600\r\n"));
        ++registersAnswered;
        continue;
      }
      std::lock_guard lock(mu_);
      q_.push_back({std::move(*m), f});
      cv_.notify_all();
    }
  }

  UdpPeer sock_;
  std::atomic<bool> run_{true};
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Msg> q_;
};

struct Phone {
  Phone(const std::string& ip, std::string u, std::string agent, std::string inst = "")
      : sock(ip), user(std::move(u)), ua(std::move(agent)), instance(std::move(inst)) {
    callId = "reg-" + user + "-" + std::to_string(sock.addr().port);
  }
  UdpPeer sock;
  std::string user, ua, instance;
  std::string callId;
  int cseq = 0;
  std::string ip() const { return sock.addr().ip; }
  std::string uri() const { return "sip:" + user + "@" + sock.addr().hostport(); }
  std::string aor() const { return user + "@" + kTenant; }
  // The Contact value this phone registers: its URI, +sip.instance when it has one, then `params`.
  std::string contact(const std::string& params = "") const {
    std::string c = "<" + uri() + ">";
    if (!instance.empty()) c += ";+sip.instance=\"" + instance + "\"";
    return c + params;
  }
};

std::string registerMsg(Phone& p, const std::string& contact, int expiresHeader) {
  int cseq = ++p.cseq;
  std::string m = "REGISTER sip:" + kTenant + " SIP/2.0\r\n";
  m += "Via: SIP/2.0/UDP " + p.sock.addr().hostport() + ";branch=z9hG4bK-" + p.callId + "-" + std::to_string(cseq) +
       ";rport\r\n";
  m += "Max-Forwards: 70\r\n";
  m += "From: <sip:" + p.user + "@" + kTenant + ">;tag=rt" + std::to_string(p.sock.addr().port) + "\r\n";
  m += "To: <sip:" + p.user + "@" + kTenant + ">\r\n";
  m += "Call-ID: " + p.callId + "\r\nCSeq: " + std::to_string(cseq) + " REGISTER\r\n";
  m += "Contact: " + contact + "\r\n";
  if (expiresHeader >= 0) m += "Expires: " + std::to_string(expiresHeader) + "\r\n";
  if (!p.ua.empty()) m += "User-Agent: " + p.ua + "\r\n";
  m += "Content-Length: 0\r\n\r\n";
  return m;
}

// A Contact value with its expires parameter replaced by `secs` (the registrar's grant).
std::string withExpires(std::string contact, int secs) {
  auto e = contact.find(";expires=");
  if (e != std::string::npos) {
    auto stop = contact.find(';', e + 1);
    contact.erase(e, stop == std::string::npos ? std::string::npos : stop - e);
  }
  return contact + ";expires=" + std::to_string(secs);
}

struct RegisterResult {
  int status = 0;     // what the phone got back (0: nothing)
  std::string atPbx;  // the REGISTER as the PBX saw it
};

// The phone sends a REGISTER through sipedge; the PBX answers `code`, echoing the Contact with `grant` seconds
// when it is a 2xx registration (grant >= 0), or with no Contact (grant < 0).
RegisterResult doRegister(SipedgeProcess& edge, Pbx& pbx, Phone& p, const std::string& contact, int expiresHeader,
                          int code = 200, int grant = -1) {
  RegisterResult res;
  p.sock.sendTo(edge.ports().udp, registerMsg(p, contact, expiresHeader));
  auto m = pbx.next();
  if (!m) {
    ADD_FAILURE() << "REGISTER from " << p.aor() << " never reached the PBX";
    return res;
  }
  res.atPbx = m->text;
  std::string extra;
  if (code >= 200 && code < 300 && grant >= 0) extra = "Contact: " + withExpires(contact, grant) + "\r\n";
  if (code == 401) extra = "WWW-Authenticate: Digest realm=\"" + kTenant + "\", nonce=\"abc123\"\r\n";
  pbx.send(m->from, respond(m->text, code, code == 200 ? "OK" : code == 401 ? "Unauthorized" : "Failed", "reg", extra));
  auto r = p.sock.recv(2000ms);
  if (r) res.status = statusCode(*r);
  return res;
}

struct Dialog {
  std::string method, ruri, callId, fromHdr, toHdr, via, contact;
  int cseq = 1;
  std::vector<std::string> routes;
  std::string ua;
};

std::string request(const Dialog& d, const std::string& method, int cseq, const std::string& branch) {
  std::string m = method + " " + d.ruri + " SIP/2.0\r\n";
  m += "Via: SIP/2.0/UDP " + d.via + ";branch=" + branch + ";rport\r\n";
  m += "Max-Forwards: 70\r\n";
  for (auto& r : d.routes) m += "Route: " + r + "\r\n";
  m += "From: " + d.fromHdr + "\r\nTo: " + d.toHdr + "\r\n";
  m += "Call-ID: " + d.callId + "\r\nCSeq: " + std::to_string(cseq) + " " + method + "\r\n";
  if (method == "INVITE") m += "Contact: " + d.contact + "\r\n";
  if (!d.ua.empty()) m += "User-Agent: " + d.ua + "\r\n";
  m += "Content-Length: 0\r\n\r\n";
  return m;
}

// A call from a phone through sipedge to the PBX.
class OutCall {
 public:
  OutCall(SipedgeProcess& edge, Pbx& pbx, Phone& phone, const std::string& callId, const std::string& to,
          const std::string& display)
      : edge_(edge), pbx_(pbx), phone_(phone) {
    d_.ruri = "sip:" + to + "@" + kTenant;
    d_.callId = callId;
    d_.fromHdr =
        (display.empty() ? "" : "\"" + display + "\" ") + "<sip:" + phone.user + "@" + kTenant + ">;tag=ft-" + callId;
    d_.toHdr = "<sip:" + to + "@" + kTenant + ">";
    d_.via = phone.sock.addr().hostport();
    d_.contact = "<" + phone.uri() + ">";
    d_.ua = phone.ua;
    branch_ = "z9hG4bK-" + callId + "-inv";
  }

  // INVITE → the PBX. False (and a test failure) when it never arrives.
  bool invite() {
    invite_ = request(d_, "INVITE", 1, branch_);
    phone_.sock.sendTo(edge_.ports().udp, invite_);
    auto m = pbx_.next();
    if (!m) {
      ADD_FAILURE() << "INVITE " << d_.callId << " never reached the PBX";
      return false;
    }
    atPbx_ = *m;
    return true;
  }
  // The PBX answers the INVITE; the phone receives it. Returns the phone's copy.
  std::optional<std::string> pbxAnswers(int code, const std::string& phrase) {
    std::string extra = code < 300 && code > 100 ? "Contact: <sip:pbx@" + pbx_.addr().hostport() + ">\r\n" : "";
    pbx_.send(atPbx_.from, respond(atPbx_.text, code, phrase, "pt-" + d_.callId, extra));
    auto r = phone_.sock.recv(2000ms);
    if (!r) {
      ADD_FAILURE() << code << " for " << d_.callId << " never reached the phone";
      return std::nullopt;
    }
    if (code >= 200) final_ = *r;
    return r;
  }
  // ACK: for a 2xx a new transaction along the route set, for a failure the INVITE's branch (hop by hop).
  void ack() {
    Dialog a = d_;
    a.toHdr = header(final_, "To");
    if (statusCode(final_) < 300) {
      auto rr = headers(final_, "Record-Route");
      a.routes.assign(rr.rbegin(), rr.rend());
      a.ruri = uriOf(header(final_, "Contact"));
      phone_.sock.sendTo(edge_.ports().udp, request(a, "ACK", 1, "z9hG4bK-" + d_.callId + "-ack"));
    } else {
      phone_.sock.sendTo(edge_.ports().udp, request(a, "ACK", 1, branch_));
    }
    auto m = pbx_.next();
    if (!m || m->text.rfind("ACK ", 0) != 0) ADD_FAILURE() << "ACK " << d_.callId << " never reached the PBX";
  }
  // BYE from the phone, answered 200 by the PBX.
  void byeFromPhone() {
    Dialog b = d_;
    b.toHdr = header(final_, "To");
    auto rr = headers(final_, "Record-Route");
    b.routes.assign(rr.rbegin(), rr.rend());
    b.ruri = uriOf(header(final_, "Contact"));
    phone_.sock.sendTo(edge_.ports().udp, request(b, "BYE", 2, "z9hG4bK-" + d_.callId + "-bye"));
    auto m = pbx_.next();
    if (!m || m->text.rfind("BYE ", 0) != 0) {
      ADD_FAILURE() << "BYE " << d_.callId << " never reached the PBX";
      return;
    }
    pbx_.send(m->from, respond(m->text, 200, "OK"));
    auto ok = phone_.sock.recv(2000ms);
    if (!ok || statusCode(*ok) != 200) ADD_FAILURE() << "200 for BYE " << d_.callId << " never reached the phone";
  }
  // CANCEL from the phone: the PBX answers it 200 and the INVITE 487.
  void cancel() {
    phone_.sock.sendTo(edge_.ports().udp, request(d_, "CANCEL", 1, branch_));
    auto m = pbx_.next();
    if (!m || m->text.rfind("CANCEL ", 0) != 0) {
      ADD_FAILURE() << "CANCEL " << d_.callId << " never reached the PBX";
      return;
    }
    pbx_.send(m->from, respond(m->text, 200, "OK", "pt-" + d_.callId));
    auto ok = phone_.sock.recv(2000ms);
    if (!ok || statusCode(*ok) != 200) ADD_FAILURE() << "200 for CANCEL never reached the phone";
  }
  Addr pbxFrom() const { return atPbx_.from; }
  const std::string& atPbx() const { return atPbx_.text; }

 private:
  SipedgeProcess& edge_;
  Pbx& pbx_;
  Phone& phone_;
  Dialog d_;
  std::string branch_, invite_, final_;
  Msg atPbx_;
};

// ------------------------------------------------------------------ fixture

std::string captureToml(const Pbx& pbx, const std::string& capture = "", const std::string& store = "") {
  return pbxToml({pbx.target()}, 200, 150) + "\n[capture]\nsweep_interval = \"1s\"\n" + capture + "\n[store]\n" +
         store + "\n";
}

class Capture : public ::testing::Test {
 protected:
  void start(const std::string& capture = "", const std::string& store = "", int workers = 1) {
    edge = std::make_unique<SipedgeProcess>(captureToml(pbx, capture, store), workers);
    ASSERT_TRUE(edge->started()) << edge->log();
    data = edge->dir() + "/data";
  }
  void TearDown() override {
    if (HasFailure() && edge) std::cerr << "---- sipedge log ----\n" << edge->log().substr(0, 20000);
  }
  // Waits until `aor` has `n` rows of `kind` (iplog / devices / cdrs --all).
  Json waitRows(const std::string& kind, const std::string& aor, std::size_t n,
                std::chrono::milliseconds timeout = 5000ms) {
    Json rows;
    waitFor(
        [&] {
          if (kind == "iplog")
            rows = ipLog(data, aor);
          else if (kind == "devices")
            rows = devices(data, aor);
          else
            rows = cdrs(data, aor, true);
          return rows.size() == n;
        },
        timeout);
    return rows;
  }

  Pbx pbx;
  std::unique_ptr<SipedgeProcess> edge;
  std::string data;
};

// What every CDR in these tests shares.
void expectCdrCommon(const Json& c, const std::string& context) {
  EXPECT_EQ(c.value("context", ""), context);
  EXPECT_EQ(c.value("unique_id", "").rfind("se-", 0), 0u) << c.dump();
  EXPECT_FALSE(c.value("hidden_by_user", true));
  EXPECT_FALSE(c.value("legal_hold", true));
}

}  // namespace

// ================================================================== 1. registrations, IP log, devices

TEST_F(Capture, RegistrationsFillIpLogAndDevicesPerUser) {
  start();
  Phone yealink("127.0.0.1", "alice", kYealinkUa, kYealinkInstance);
  Phone zoiper("127.0.0.5", "alice", kZoiperUa);
  Phone grandstream("127.0.0.6", "bob", kGrandstreamUa, kGrandstreamInstance);
  Phone number("127.0.0.6", "4930555123987", kZoiperUa);

  std::int64_t t0 = nowMs();
  EXPECT_EQ(doRegister(*edge, pbx, yealink, yealink.contact(), 600, 200, 600).status, 200);
  EXPECT_EQ(doRegister(*edge, pbx, zoiper, zoiper.contact(";expires=300"), -1, 200, 300).status, 200);
  EXPECT_EQ(doRegister(*edge, pbx, grandstream, grandstream.contact(), 3600, 200, 3600).status, 200);
  EXPECT_EQ(doRegister(*edge, pbx, number, number.contact(), 120, 200, 120).status, 200);
  std::this_thread::sleep_for(20ms);  // so the refresh has a later last-seen
  std::int64_t tRefresh = nowMs();
  EXPECT_EQ(doRegister(*edge, pbx, zoiper, zoiper.contact(";expires=300"), -1, 200, 300).status, 200);
  std::int64_t t1 = nowMs();

  // IP log: one row per (user, ip), with a count and first/last seen.
  Json alice = waitRows("iplog", "alice@example.com", 2);
  ASSERT_EQ(alice.size(), 2u) << alice.dump(1);
  const Json* a1 = findBy(alice, "ip", "127.0.0.1");
  const Json* a5 = findBy(alice, "ip", "127.0.0.5");
  ASSERT_TRUE(a1 && a5) << alice.dump(1);
  EXPECT_EQ((*a1)["count"], 1);
  EXPECT_EQ((*a1)["event"], "new-ip");
  EXPECT_EQ((*a1)["port"], yealink.sock.addr().port);
  EXPECT_EQ((*a1)["transport"], "udp");
  EXPECT_EQ((*a1)["first_seen"], (*a1)["last_seen"]);
  EXPECT_GE((*a1)["first_seen"].get<std::int64_t>(), t0);
  EXPECT_LE((*a1)["first_seen"].get<std::int64_t>(), t1);
  bool refreshed = waitFor([&] {
    alice = ipLog(data, "alice@example.com");
    const Json* r = findBy(alice, "ip", "127.0.0.5");
    return r && (*r)["count"] == 2;
  });
  ASSERT_TRUE(refreshed) << alice.dump(1);
  a5 = findBy(alice, "ip", "127.0.0.5");
  EXPECT_EQ((*a5)["count"], 2);
  EXPECT_GE((*a5)["first_seen"].get<std::int64_t>(), t0);
  EXPECT_LT((*a5)["first_seen"].get<std::int64_t>(), tRefresh);
  EXPECT_GE((*a5)["last_seen"].get<std::int64_t>(), tRefresh);
  EXPECT_LE((*a5)["last_seen"].get<std::int64_t>(), t1);
  EXPECT_EQ((*a5)["port"], zoiper.sock.addr().port);

  Json bob = waitRows("iplog", "bob@example.com", 1);
  ASSERT_EQ(bob.size(), 1u) << bob.dump(1);
  EXPECT_EQ(bob[0]["ip"], "127.0.0.6");
  EXPECT_EQ(bob[0]["count"], 1);
  Json num = waitRows("iplog", "4930555123987@example.com", 1);
  ASSERT_EQ(num.size(), 1u) << num.dump(1);
  EXPECT_EQ(num[0]["ip"], "127.0.0.6");
  EXPECT_EQ(num[0]["port"], number.sock.addr().port);

  // Devices: brand / model / firmware / MAC.
  Json ad = waitRows("devices", "alice@example.com", 2);
  ASSERT_EQ(ad.size(), 2u) << ad.dump(1);
  const Json* y = findBy(ad, "brand", "Yealink");
  const Json* z = findBy(ad, "brand", "Zoiper");
  ASSERT_TRUE(y && z) << ad.dump(1);
  EXPECT_EQ((*y)["model"], "T46S");
  EXPECT_EQ((*y)["firmware"], "66.86.0.15");
  EXPECT_EQ((*y)["mac"], kYealinkMac);
  EXPECT_EQ((*y)["user_agent"], kYealinkUa);
  EXPECT_EQ((*y)["ip"], "127.0.0.1");
  EXPECT_EQ((*y)["instance"], kYealinkInstance);
  EXPECT_NEAR(static_cast<double>((*y)["expires_at"].get<std::int64_t>() - (*y)["last_seen"].get<std::int64_t>()),
              600000.0, 1.0);
  EXPECT_EQ((*z)["model"], "Zoiper");
  EXPECT_EQ((*z)["firmware"], "2.10.20.2");
  EXPECT_EQ((*z)["mac"], "");
  EXPECT_EQ((*z)["ip"], "127.0.0.5");
  EXPECT_EQ((*z)["user_agent"], kZoiperUa);
  EXPECT_LT((*z)["first_seen"].get<std::int64_t>(), tRefresh) << "a refresh keeps the first-seen time";
  EXPECT_GE((*z)["last_seen"].get<std::int64_t>(), tRefresh);

  Json bd = waitRows("devices", "bob@example.com", 1);
  ASSERT_EQ(bd.size(), 1u) << bd.dump(1);
  EXPECT_EQ(bd[0]["brand"], "Grandstream");
  EXPECT_EQ(bd[0]["model"], "GXP2170");
  EXPECT_EQ(bd[0]["firmware"], "1.0.11.23");
  EXPECT_EQ(bd[0]["mac"], kGrandstreamMac);

  // A user sees only their own rows: nobody else's IP, port, agent or MAC in them.
  std::string aliceText = ipLog(data, "alice@example.com").dump() + devices(data, "alice@example.com").dump();
  EXPECT_EQ(aliceText.find("127.0.0.6"), std::string::npos) << aliceText;
  EXPECT_EQ(aliceText.find("Grandstream"), std::string::npos) << aliceText;
  EXPECT_EQ(aliceText.find(kGrandstreamMac), std::string::npos) << aliceText;
  std::string bobText = ipLog(data, "bob@example.com").dump() + devices(data, "bob@example.com").dump();
  EXPECT_EQ(bobText.find("127.0.0.1"), std::string::npos) << bobText;
  EXPECT_EQ(bobText.find("127.0.0.5"), std::string::npos) << bobText;
  EXPECT_EQ(bobText.find("Yealink"), std::string::npos) << bobText;
  EXPECT_EQ(bobText.find("Zoiper"), std::string::npos) << bobText;
  EXPECT_TRUE(ipLog(data, "nobody@example.com").empty());
  EXPECT_TRUE(ipLog(data, "alice@other.example").empty()) << "tenants are separate";

  auto users = usersOf(data);
  for (auto* u : {"alice@example.com", "bob@example.com", "4930555123987@example.com"})
    EXPECT_TRUE(users.count(u)) << u;
  EXPECT_EQ(edge->stop(), 0);
}

// ================================================================== 2. unregister

TEST_F(Capture, UnregisterRemovesExactlyThatDeviceAndOnlyOn2xx) {
  start();
  Phone yealink("127.0.0.5", "alice", kYealinkUa, kYealinkInstance);
  Phone zoiper("127.0.0.6", "alice", kZoiperUa);
  Phone gs("127.0.0.5", "bob", kGrandstreamUa, kGrandstreamInstance);
  Phone carol("127.0.0.6", "carol", kZoiperUa);
  ASSERT_EQ(doRegister(*edge, pbx, yealink, yealink.contact(), 600, 200, 600).status, 200);
  ASSERT_EQ(doRegister(*edge, pbx, zoiper, zoiper.contact(), 600, 200, 600).status, 200);
  ASSERT_EQ(doRegister(*edge, pbx, gs, gs.contact(), 600, 200, 600).status, 200);
  ASSERT_EQ(doRegister(*edge, pbx, carol, carol.contact(), 600, 200, 600).status, 200);
  ASSERT_EQ(waitRows("devices", "alice@example.com", 2).size(), 2u);
  ASSERT_EQ(waitRows("devices", "bob@example.com", 1).size(), 1u);
  ASSERT_EQ(waitRows("devices", "carol@example.com", 1).size(), 1u);

  // A 401 (or any non-2xx) to an unregister changes nothing, not even the IP log.
  Json ipBefore = ipLog(data, "alice@example.com");
  EXPECT_EQ(doRegister(*edge, pbx, zoiper, zoiper.contact(";expires=0"), -1, 401).status, 401);
  EXPECT_EQ(doRegister(*edge, pbx, yealink, yealink.contact(), 0, 403).status, 403);
  EXPECT_EQ(doRegister(*edge, pbx, carol, "*", 0, 401).status, 401);
  // A 2xx for someone else afterwards proves the writer got past those answers.
  Phone marker("127.0.0.5", "marker", kZoiperUa);
  ASSERT_EQ(doRegister(*edge, pbx, marker, marker.contact(), 60, 200, 60).status, 200);
  ASSERT_EQ(waitRows("devices", "marker@example.com", 1).size(), 1u);
  EXPECT_EQ(devices(data, "alice@example.com").size(), 2u);
  EXPECT_EQ(devices(data, "carol@example.com").size(), 1u);
  EXPECT_EQ(ipLog(data, "alice@example.com"), ipBefore) << "a refused REGISTER must not touch the IP log";

  // Contact ;expires=0 on one of alice's two devices removes exactly that one.
  ASSERT_EQ(doRegister(*edge, pbx, zoiper, zoiper.contact(";expires=0"), -1, 200).status, 200);
  Json left = waitRows("devices", "alice@example.com", 1);
  ASSERT_EQ(left.size(), 1u) << left.dump(1);
  EXPECT_EQ(left[0]["brand"], "Yealink");
  EXPECT_EQ(left[0]["mac"], kYealinkMac);

  // Expires: 0 (the Contact without a parameter) removes the other one.
  ASSERT_EQ(doRegister(*edge, pbx, yealink, yealink.contact(), 0, 200).status, 200);
  EXPECT_EQ(waitRows("devices", "alice@example.com", 0).size(), 0u);

  // Contact: * with Expires: 0 removes every device of that AOR; bob's stays.
  Phone carol2("127.0.0.1", "carol", kGrandstreamUa, kGrandstreamInstance);
  ASSERT_EQ(doRegister(*edge, pbx, carol2, carol2.contact(), 600, 200, 600).status, 200);
  ASSERT_EQ(waitRows("devices", "carol@example.com", 2).size(), 2u);
  ASSERT_EQ(doRegister(*edge, pbx, carol, "*", 0, 200).status, 200);
  EXPECT_EQ(waitRows("devices", "carol@example.com", 0).size(), 0u);

  Json b = devices(data, "bob@example.com");
  ASSERT_EQ(b.size(), 1u) << "other users' devices are untouched";
  EXPECT_EQ(b[0]["mac"], kGrandstreamMac);
  // The IP log keeps the unregister events (P1), with the counts.
  Json aliceLog = ipLog(data, "alice@example.com");
  ASSERT_EQ(aliceLog.size(), 2u) << aliceLog.dump(1);
  for (auto& r : aliceLog) EXPECT_EQ(r["count"], 2) << r.dump();
  EXPECT_EQ(edge->stop(), 0);
}

// ================================================================== 3. expiry and provisioned devices

TEST_F(Capture, ExpiredRegistrationIsSwept) {
  start();
  Phone zoiper("127.0.0.5", "alice", kZoiperUa);
  Phone gs("127.0.0.6", "bob", kGrandstreamUa, kGrandstreamInstance);
  // alice asks for an hour, the registrar grants 1 s; bob keeps his hour.
  ASSERT_EQ(doRegister(*edge, pbx, zoiper, zoiper.contact(";expires=3600"), -1, 200, 1).status, 200);
  ASSERT_EQ(doRegister(*edge, pbx, gs, gs.contact(), 3600, 200, 3600).status, 200);
  Json d = waitRows("devices", "alice@example.com", 1);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0]["expires_at"].get<std::int64_t>() - d[0]["last_seen"].get<std::int64_t>(), 1000) << d.dump();
  auto t = std::chrono::steady_clock::now();
  EXPECT_TRUE(waitFor([&] { return devices(data, "alice@example.com").empty(); }, 6000ms))
      << "the 1 s registration was not swept";
  std::cerr << "swept after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count()
            << " ms\n";
  EXPECT_EQ(devices(data, "bob@example.com").size(), 1u);
  EXPECT_EQ(ipLog(data, "alice@example.com").size(), 1u) << "expiry removes the device, not the IP log";
  EXPECT_EQ(edge->stop(), 0);
}

TEST_F(Capture, ProvisionedDevicesSurviveUnregisterAndExpiryUntilRemoved) {
  start("provisioned = [\"00-15-65-AA-BB-CC\"]\n");
  // Provisioned from config (any spelling, normalised).
  Json list = ctlJson(data, {"provision", "list"});
  ASSERT_TRUE(list.contains("provisioned")) << list.dump();
  ASSERT_NE(findBy(list["provisioned"], "mac", kYealinkMac), nullptr) << list.dump(1);

  // And one through the tool, while sipedge runs.
  auto add = ctl(data, {"provision", "add", "00:0B:82:12:34:56", "bob@example.com", "GXP2170"});
  ASSERT_EQ(add.rc, 0) << add.err;
  list = ctlJson(data, {"provision", "list"});
  const Json* p = findBy(list["provisioned"], "mac", kGrandstreamMac);
  ASSERT_NE(p, nullptr) << list.dump(1);
  EXPECT_EQ((*p)["user"], "bob");
  EXPECT_EQ((*p)["tenant"], kTenant);
  EXPECT_EQ((*p)["model"], "GXP2170");
  EXPECT_NE(ctl(data, {"provision", "add", "not-a-mac", "bob@example.com"}).rc, 0);

  Phone yealink("127.0.0.5", "alice", kYealinkUa, kYealinkInstance);
  Phone gs("127.0.0.6", "bob", kGrandstreamUa, kGrandstreamInstance);
  Phone plain("127.0.0.5", "carol", kZoiperUa);  // not provisioned: the control case
  ASSERT_EQ(doRegister(*edge, pbx, yealink, yealink.contact(), 3600, 200, 1).status, 200);  // granted 1 s
  ASSERT_EQ(doRegister(*edge, pbx, gs, gs.contact(), 3600, 200, 3600).status, 200);
  ASSERT_EQ(doRegister(*edge, pbx, plain, plain.contact(), 3600, 200, 1).status, 200);
  ASSERT_EQ(waitRows("devices", "alice@example.com", 1).size(), 1u);
  ASSERT_EQ(waitRows("devices", "bob@example.com", 1).size(), 1u);
  ASSERT_EQ(waitRows("devices", "carol@example.com", 1).size(), 1u);

  // Expiry: carol's goes, alice's provisioned one stays.
  ASSERT_TRUE(waitFor([&] { return devices(data, "carol@example.com").empty(); }, 6000ms)) << "control case not swept";
  std::this_thread::sleep_for(1100ms);  // one more sweep interval, to be sure alice's was looked at after expiry
  Json a = devices(data, "alice@example.com");
  ASSERT_EQ(a.size(), 1u) << "the provisioned device was swept";
  EXPECT_EQ(a[0]["mac"], kYealinkMac);

  // Unregister (both styles): still there.
  ASSERT_EQ(doRegister(*edge, pbx, yealink, yealink.contact(";expires=0"), -1, 200).status, 200);
  ASSERT_EQ(doRegister(*edge, pbx, gs, gs.contact(), 0, 200).status, 200);
  Phone marker("127.0.0.6", "marker", kZoiperUa);
  ASSERT_EQ(doRegister(*edge, pbx, marker, marker.contact(), 60, 200, 60).status, 200);
  ASSERT_EQ(waitRows("devices", "marker@example.com", 1).size(), 1u);  // the writer is past the unregisters
  EXPECT_EQ(devices(data, "alice@example.com").size(), 1u) << "provisioned device removed by unregister";
  EXPECT_EQ(devices(data, "bob@example.com").size(), 1u) << "tool-provisioned device removed by unregister";

  // An operator removes them: the devices go with them.
  auto rm = ctl(data, {"provision", "remove", kYealinkMac});
  ASSERT_EQ(rm.rc, 0) << rm.err;
  EXPECT_TRUE(waitFor([&] { return devices(data, "alice@example.com").empty(); }, 3000ms));
  rm = ctl(data, {"provision", "remove", "00:0b:82:12:34:56"});
  ASSERT_EQ(rm.rc, 0) << rm.err;
  EXPECT_TRUE(waitFor([&] { return devices(data, "bob@example.com").empty(); }, 3000ms));
  EXPECT_NE(ctl(data, {"provision", "remove", kYealinkMac}).rc, 0) << "removing twice is an error";
  list = ctlJson(data, {"provision", "list"});
  EXPECT_TRUE(list["provisioned"].empty()) << list.dump(1);
  EXPECT_EQ(edge->stop(), 0);
}

// ================================================================== 4. CDRs

class Cdrs : public Capture {
 protected:
  // The phone's single CDR once it is there (and still single 200 ms later).
  Json onlyCdr(const std::string& aor) {
    Json rows = waitRows("cdrs", aor, 1);
    std::this_thread::sleep_for(200ms);
    rows = cdrs(data, aor, true);
    EXPECT_EQ(rows.size(), 1u) << rows.dump(1);
    return rows.empty() ? Json::object() : rows[0];
  }
  void expectTimes(const Json& c, std::int64_t t0, std::int64_t t1, bool answered) {
    auto start = c["start"].get<std::int64_t>(), answer = c["answer"].get<std::int64_t>(),
         end = c["end"].get<std::int64_t>();
    EXPECT_GE(start, t0) << c.dump();
    EXPECT_LE(end, t1) << c.dump();
    EXPECT_LE(start, end) << c.dump();
    if (answered) {
      EXPECT_LE(start, answer) << c.dump();
      EXPECT_LE(answer, end) << c.dump();
    } else {
      EXPECT_EQ(answer, 0) << c.dump();
      EXPECT_EQ(c["billsec"], 0) << c.dump();
    }
  }
  std::string pbxChannel() const { return "udp:" + pbx.addr().hostport(); }
};

TEST_F(Cdrs, AnsweredCallHungUpByThePhone) {
  start();
  Phone phone("127.0.0.5", "4930555123987", kYealinkUa);
  std::int64_t t0 = nowMs();
  OutCall call(*edge, pbx, phone, "call-answered-1", "2002", "Ursula K");
  ASSERT_TRUE(call.invite());
  ASSERT_TRUE(call.pbxAnswers(180, "Ringing"));
  ASSERT_TRUE(call.pbxAnswers(200, "OK"));
  call.ack();
  std::this_thread::sleep_for(1200ms);  // the conversation
  call.byeFromPhone();
  std::int64_t t1 = nowMs();
  Json c = onlyCdr(phone.aor());
  expectCdrCommon(c, "access->core");
  EXPECT_EQ(c["caller_id"], "\"Ursula K\" <4930555123987>");
  EXPECT_EQ(c["source"], "4930555123987");
  EXPECT_EQ(c["destination"], "2002");
  EXPECT_EQ(c["src_channel"], "udp:127.0.0.5:" + std::to_string(phone.sock.addr().port));
  EXPECT_EQ(c["dst_channel"], pbxChannel());
  EXPECT_EQ(c["last_app"], "BYE");
  EXPECT_EQ(c["last_data"], "200");
  EXPECT_EQ(c["disposition"], "ANSWERED");
  expectTimes(c, t0, t1, true);
  EXPECT_EQ(c["billsec"], 1) << c.dump();
  EXPECT_GE(c["end"].get<std::int64_t>() - c["answer"].get<std::int64_t>(), 1200) << c.dump();
  EXPECT_EQ(c["billsec"].get<std::int64_t>(), (c["end"].get<std::int64_t>() - c["answer"].get<std::int64_t>()) / 1000);
  // Owned by the caller only: the callee number and the PBX user have none.
  EXPECT_TRUE(cdrs(data, "2002@example.com", true).empty());
  EXPECT_EQ(edge->stop(), 0);
}

struct FailCase {
  int code;
  const char* phrase;
  const char* disposition;
};
// For test names (ctest shows the printed value): "486", not the struct's bytes.
[[maybe_unused]] void PrintTo(const FailCase& f, std::ostream* os) {
  *os << f.code;
}

class CdrFailures : public Cdrs, public ::testing::WithParamInterface<FailCase> {};

TEST_P(CdrFailures, OneCdrWithTheDisposition) {
  const FailCase fc = GetParam();
  start();
  Phone phone("127.0.0.6", "bob", kGrandstreamUa);
  std::int64_t t0 = nowMs();
  OutCall call(*edge, pbx, phone, std::string("call-fail-") + std::to_string(fc.code), "4940999888", "");
  ASSERT_TRUE(call.invite());
  ASSERT_TRUE(call.pbxAnswers(180, "Ringing"));
  auto f = call.pbxAnswers(fc.code, fc.phrase);
  ASSERT_TRUE(f);
  EXPECT_EQ(statusCode(*f), fc.code);
  call.ack();
  std::int64_t t1 = nowMs();
  Json c = onlyCdr(phone.aor());
  expectCdrCommon(c, "access->core");
  EXPECT_EQ(c["caller_id"], "bob");
  EXPECT_EQ(c["source"], "bob");
  EXPECT_EQ(c["destination"], "4940999888");
  EXPECT_EQ(c["src_channel"], "udp:127.0.0.6:" + std::to_string(phone.sock.addr().port));
  EXPECT_EQ(c["dst_channel"], pbxChannel());
  EXPECT_EQ(c["last_app"], "INVITE");
  EXPECT_EQ(c["last_data"], std::to_string(fc.code));
  EXPECT_EQ(c["disposition"], fc.disposition);
  expectTimes(c, t0, t1, false);
  EXPECT_EQ(edge->stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Dispositions, CdrFailures,
                         ::testing::Values(FailCase{486, "Busy Here", "BUSY"},
                                           FailCase{480, "Temporarily Unavailable", "NO ANSWER"},
                                           FailCase{503, "Service Unavailable", "FAILED"}),
                         [](const ::testing::TestParamInfo<FailCase>& p) { return std::to_string(p.param.code); });

TEST_F(Cdrs, CancelledCall) {
  start();
  Phone phone("127.0.0.5", "alice", kZoiperUa);
  std::int64_t t0 = nowMs();
  OutCall call(*edge, pbx, phone, "call-cancel-1", "2002", "Alice");
  ASSERT_TRUE(call.invite());
  ASSERT_TRUE(call.pbxAnswers(180, "Ringing"));
  call.cancel();
  auto f = call.pbxAnswers(487, "Request Terminated");
  ASSERT_TRUE(f);
  call.ack();
  std::int64_t t1 = nowMs();
  Json c = onlyCdr(phone.aor());
  expectCdrCommon(c, "access->core");
  EXPECT_EQ(c["caller_id"], "\"Alice\" <alice>");
  EXPECT_EQ(c["destination"], "2002");
  EXPECT_EQ(c["last_app"], "CANCEL");
  EXPECT_EQ(c["last_data"], "487");
  EXPECT_EQ(c["disposition"], "CANCELLED");
  expectTimes(c, t0, t1, false);
  EXPECT_EQ(edge->stop(), 0);
}

TEST_F(Cdrs, AnsweredCallWithoutByeIsClosedAfterMaxCallDuration) {
  start("max_call_duration = \"2s\"\n");
  Phone phone("127.0.0.5", "alice", kYealinkUa);
  std::int64_t t0 = nowMs();
  OutCall call(*edge, pbx, phone, "call-timeout-1", "2003", "");
  ASSERT_TRUE(call.invite());
  ASSERT_TRUE(call.pbxAnswers(200, "OK"));
  call.ack();
  Json rows = waitRows("cdrs", phone.aor(), 1, 6000ms);
  std::int64_t t1 = nowMs();
  ASSERT_EQ(rows.size(), 1u) << "no CDR for a call that never saw its BYE";
  Json c = rows[0];
  expectCdrCommon(c, "access->core");
  EXPECT_EQ(c["disposition"], "TIMEOUT");
  EXPECT_EQ(c["last_app"], "INVITE");
  EXPECT_EQ(c["last_data"], "200");
  expectTimes(c, t0, t1, true);
  auto held = c["end"].get<std::int64_t>() - c["answer"].get<std::int64_t>();
  EXPECT_GE(held, 2000) << c.dump();
  EXPECT_LT(held, 4000) << c.dump();
  EXPECT_EQ(c["billsec"].get<std::int64_t>(), held / 1000);
  // A late BYE after the timeout does not make a second CDR.
  call.byeFromPhone();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(cdrs(data, phone.aor(), true).size(), 1u);
  EXPECT_EQ(edge->stop(), 0);
}

TEST_F(Cdrs, NoCdrWhenSipedgeItselfAnswers503) {
  pbx.answerPings = false;  // the PBX goes down: sipedge answers 503 and forwards nothing
  start();
  std::this_thread::sleep_for(900ms);  // > 2 missed ping rounds (200 ms + 150 ms timeout)
  Phone phone("127.0.0.5", "alice", kZoiperUa);
  Dialog d;
  d.ruri = "sip:2002@" + kTenant;
  d.callId = "call-nopbx-1";
  d.fromHdr = "<sip:alice@" + kTenant + ">;tag=np1";
  d.toHdr = "<sip:2002@" + kTenant + ">";
  d.via = phone.sock.addr().hostport();
  d.contact = "<" + phone.uri() + ">";
  phone.sock.sendTo(edge->ports().udp, request(d, "INVITE", 1, "z9hG4bK-np1"));
  auto r = phone.sock.recv(2000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(statusCode(*r), 503) << *r;
  EXPECT_FALSE(pbx.next(200ms)) << "forwarded although the PBX is down";
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(cdrs(data, "alice@example.com", true).empty());
  EXPECT_FALSE(usersOf(data).count("alice@example.com"));
  EXPECT_EQ(edge->stop(), 0);
}

TEST_F(Cdrs, PbxCallsPhoneThroughPathAndHangsUp) {
  start();
  Phone phone("127.0.0.5", "alice", kYealinkUa, kYealinkInstance);
  auto reg = doRegister(*edge, pbx, phone, phone.contact(), 600, 200, 600);
  ASSERT_EQ(reg.status, 200);
  std::string path = header(reg.atPbx, "Path");
  ASSERT_FALSE(path.empty()) << reg.atPbx;

  std::int64_t t0 = nowMs();
  Dialog d;
  d.ruri = phone.uri();
  d.callId = "call-in-1";
  d.fromHdr = "\"Reception\" <sip:2002@" + kTenant + ">;tag=pbx-in1";
  d.toHdr = "<sip:alice@" + kTenant + ">";
  d.via = pbx.addr().hostport();
  d.contact = "<sip:2002@" + pbx.addr().hostport() + ">";
  d.routes = {path};
  Addr edgeInternal = hostPortOf(uriOf(path));
  pbx.send(edgeInternal, request(d, "INVITE", 1, "z9hG4bK-in1-inv"));
  Addr from;
  auto inv = phone.sock.recv(2000ms, &from);
  ASSERT_TRUE(inv) << "the PBX's INVITE did not reach the phone";
  ASSERT_EQ(firstLine(*inv), "INVITE " + phone.uri() + " SIP/2.0");
  phone.sock.sendTo(edge->ports().udp, respond(*inv, 180, "Ringing", "ph-in1"));
  auto ringing = pbx.next();
  ASSERT_TRUE(ringing);
  EXPECT_EQ(statusCode(ringing->text), 180);
  phone.sock.sendTo(edge->ports().udp, respond(*inv, 200, "OK", "ph-in1", "Contact: <" + phone.uri() + ">\r\n"));
  auto ok = pbx.next();
  ASSERT_TRUE(ok);
  ASSERT_EQ(statusCode(ok->text), 200);
  auto rr = headers(ok->text, "Record-Route");
  ASSERT_EQ(rr.size(), 2u) << ok->text;

  Dialog in = d;
  in.toHdr = header(ok->text, "To");
  in.routes = {rr[1], rr[0]};
  pbx.send(hostPortOf(uriOf(rr[1])), request(in, "ACK", 1, "z9hG4bK-in1-ack"));
  auto ack = phone.sock.recv(2000ms);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->rfind("ACK ", 0), 0u);
  std::this_thread::sleep_for(1100ms);
  pbx.send(hostPortOf(uriOf(rr[1])), request(in, "BYE", 2, "z9hG4bK-in1-bye"));
  auto bye = phone.sock.recv(2000ms);
  ASSERT_TRUE(bye);
  ASSERT_EQ(bye->rfind("BYE ", 0), 0u);
  phone.sock.sendTo(edge->ports().udp, respond(*bye, 200, "OK"));
  auto byeOk = pbx.next();
  ASSERT_TRUE(byeOk);
  EXPECT_EQ(statusCode(byeOk->text), 200);
  std::int64_t t1 = nowMs();

  Json c = onlyCdr("alice@example.com");
  expectCdrCommon(c, "core->access");
  EXPECT_EQ(c["caller_id"], "\"Reception\" <2002>");
  EXPECT_EQ(c["source"], "2002");
  EXPECT_EQ(c["destination"], "alice");
  EXPECT_EQ(c["src_channel"], pbxChannel());
  EXPECT_EQ(c["dst_channel"], "udp:127.0.0.5:" + std::to_string(phone.sock.addr().port));
  EXPECT_EQ(c["last_app"], "BYE");
  EXPECT_EQ(c["last_data"], "200");
  EXPECT_EQ(c["disposition"], "ANSWERED");
  expectTimes(c, t0, t1, true);
  EXPECT_EQ(c["billsec"], 1) << c.dump();
  EXPECT_TRUE(cdrs(data, "2002@example.com", true).empty()) << "the PBX side owns no CDR";
  EXPECT_EQ(edge->stop(), 0);
}

// ================================================================== 5. hide / unhide

TEST_F(Cdrs, HiddenCdrLeavesTheUsersViewOnly) {
  start();
  Phone phone("127.0.0.5", "alice", kZoiperUa);
  for (int i = 0; i < 2; ++i) {
    OutCall call(*edge, pbx, phone, "call-hide-" + std::to_string(i), "200" + std::to_string(i), "");
    ASSERT_TRUE(call.invite());
    ASSERT_TRUE(call.pbxAnswers(486, "Busy Here"));
    call.ack();
  }
  Json all = waitRows("cdrs", phone.aor(), 2);
  ASSERT_EQ(all.size(), 2u);
  std::string id = all[0]["unique_id"], other = all[1]["unique_id"];
  ASSERT_NE(id, other);

  auto h = ctl(data, {"hide", id});
  ASSERT_EQ(h.rc, 0) << h.err;
  Json mine = cdrs(data, phone.aor());
  ASSERT_EQ(mine.size(), 1u) << mine.dump(1);
  EXPECT_EQ(mine[0]["unique_id"], other);
  Json op = cdrs(data, phone.aor(), true);
  ASSERT_EQ(op.size(), 2u);
  const Json* hidden = findBy(op, "unique_id", id);
  ASSERT_TRUE(hidden);
  EXPECT_EQ((*hidden)["hidden_by_user"], true);

  ASSERT_EQ(ctl(data, {"unhide", id}).rc, 0);
  EXPECT_EQ(cdrs(data, phone.aor()).size(), 2u);
  auto bad = ctl(data, {"hide", "se-no-such-id"});
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("se-no-such-id"), std::string::npos) << bad.err;
  EXPECT_EQ(ctl(data, {"hide"}).rc, 2) << "a missing argument is a usage error";

  // The audit log has both operations.
  Json audit = ctlJson(data, {"audit"});
  int seen = 0;
  for (auto& a : audit["audit"])
    if (a["target"] == id && (a["operation"] == "hide-cdr" || a["operation"] == "unhide-cdr")) ++seen;
  EXPECT_EQ(seen, 2) << audit.dump(1);
  EXPECT_EQ(edge->stop(), 0);
}

// ================================================================== 6. retention

TEST_F(Capture, RetentionRemovesOldRowsAndReportsTheOldestAge) {
  start("", "ip_log_retention = \"2s\"\ncdr_retention = \"2s\"\n");
  Phone phone("127.0.0.5", "alice", kZoiperUa);
  ASSERT_EQ(doRegister(*edge, pbx, phone, phone.contact(), 3600, 200, 3600).status, 200);
  OutCall call(*edge, pbx, phone, "call-ret-1", "2002", "");
  ASSERT_TRUE(call.invite());
  ASSERT_TRUE(call.pbxAnswers(486, "Busy Here"));
  call.ack();
  ASSERT_EQ(waitRows("iplog", phone.aor(), 1).size(), 1u);
  ASSERT_EQ(waitRows("cdrs", phone.aor(), 1).size(), 1u);

  Json ret = ctlJson(data, {"retention"});
  ASSERT_TRUE(ret.contains("oldest_age_ms")) << ret.dump();
  auto ages = ret["oldest_age_ms"];
  ASSERT_TRUE(ages["ip_log"].is_number()) << ret.dump();
  ASSERT_TRUE(ages["cdrs"].is_number()) << ret.dump();
  EXPECT_GE(ages["ip_log"].get<std::int64_t>(), 0);
  EXPECT_LT(ages["ip_log"].get<std::int64_t>(), 2000);
  EXPECT_LT(ages["cdrs"].get<std::int64_t>(), 2000);

  auto t = std::chrono::steady_clock::now();
  bool gone =
      waitFor([&] { return ipLog(data, phone.aor()).empty() && cdrs(data, phone.aor(), true).empty(); }, 8000ms);
  auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t).count();
  ret = ctlJson(data, {"retention"});
  EXPECT_TRUE(gone) << "rows older than a 2 s retention window still there after " << waited
                    << " ms; retention reports " << ret.dump();
  if (gone) {
    std::cerr << "retention removed the rows after " << waited << " ms\n";
    EXPECT_TRUE(ret["oldest_age_ms"]["ip_log"].is_null()) << ret.dump();
    EXPECT_TRUE(ret["oldest_age_ms"]["cdrs"].is_null()) << ret.dump();
  }
  // The device is not under retention (it lives as long as its registration).
  EXPECT_EQ(devices(data, phone.aor()).size(), 1u);
  EXPECT_EQ(edge->stop(), 0);
}

// ================================================================== 7. export, 8. erase

class UserData : public Cdrs {
 protected:
  // alice: two devices on 127.0.0.5, one answered call and one busy call (hidden); bob: a Grandstream on
  // 127.0.0.6 and one busy call.
  void populate() {
    start();
    ASSERT_EQ(doRegister(*edge, pbx, aliceY, aliceY.contact(), 600, 200, 600).status, 200);
    ASSERT_EQ(doRegister(*edge, pbx, aliceZ, aliceZ.contact(), 600, 200, 600).status, 200);
    ASSERT_EQ(doRegister(*edge, pbx, bobG, bobG.contact(), 600, 200, 600).status, 200);
    {
      OutCall c(*edge, pbx, aliceZ, "alice-call-answered", "4940111222", "Alice A");
      ASSERT_TRUE(c.invite());
      ASSERT_TRUE(c.pbxAnswers(200, "OK"));
      c.ack();
      c.byeFromPhone();
    }
    {
      OutCall c(*edge, pbx, aliceZ, "alice-call-busy", "4940111333", "Alice A");
      ASSERT_TRUE(c.invite());
      ASSERT_TRUE(c.pbxAnswers(486, "Busy Here"));
      c.ack();
    }
    {
      OutCall c(*edge, pbx, bobG, "bob-call-busy", "4940777888", "Bob B");
      ASSERT_TRUE(c.invite());
      ASSERT_TRUE(c.pbxAnswers(486, "Busy Here"));
      c.ack();
    }
    aliceCdrs = waitRows("cdrs", "alice@example.com", 2);
    ASSERT_EQ(aliceCdrs.size(), 2u);
    bobCdrs = waitRows("cdrs", "bob@example.com", 1);
    ASSERT_EQ(bobCdrs.size(), 1u);
    ASSERT_EQ(waitRows("devices", "alice@example.com", 2).size(), 2u);
    ASSERT_EQ(waitRows("devices", "bob@example.com", 1).size(), 1u);
    const Json* busy = findBy(aliceCdrs, "disposition", "BUSY");
    ASSERT_TRUE(busy);
    hiddenId = (*busy)["unique_id"];
    ASSERT_EQ(ctl(data, {"hide", hiddenId}).rc, 0);
  }

  Phone aliceY{"127.0.0.5", "alice", kYealinkUa, kYealinkInstance};
  Phone aliceZ{"127.0.0.5", "alice", kZoiperUa};
  Phone bobG{"127.0.0.6", "bob", kGrandstreamUa, kGrandstreamInstance};
  Json aliceCdrs, bobCdrs;
  std::string hiddenId;
};

TEST_F(UserData, ExportHoldsEverythingOfTheUserAndNothingOfOthers) {
  ASSERT_NO_FATAL_FAILURE(populate());
  std::string out = edge->dir() + "/alice-export.json";
  auto r = ctl(data, {"export", "alice@example.com", "--out", out});
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string text = slurp(out);
  Json doc = Json::parse(text);
  EXPECT_EQ(doc["user"], "alice");
  EXPECT_EQ(doc["tenant"], kTenant);
  ASSERT_EQ(doc["ip_log"].size(), 1u) << doc.dump(1);
  EXPECT_EQ(doc["ip_log"][0]["ip"], "127.0.0.5");
  EXPECT_EQ(doc["ip_log"][0]["count"], 2);
  ASSERT_EQ(doc["devices"].size(), 2u);
  EXPECT_NE(findBy(doc["devices"], "mac", kYealinkMac), nullptr);
  EXPECT_NE(findBy(doc["devices"], "user_agent", kZoiperUa), nullptr);
  ASSERT_EQ(doc["cdrs"].size(), 2u) << "hidden CDRs are the user's data too";
  for (auto& c : aliceCdrs) EXPECT_NE(findBy(doc["cdrs"], "unique_id", c["unique_id"]), nullptr) << c.dump();
  const Json* hidden = findBy(doc["cdrs"], "unique_id", hiddenId);
  ASSERT_TRUE(hidden);
  EXPECT_EQ((*hidden)["hidden_by_user"], true);

  // Nothing of bob: his IP, name, agent, MAC, numbers, CDR id, call ids.
  for (std::string s : {std::string("127.0.0.6"), std::string("bob"), std::string("Bob B"), kGrandstreamUa,
                        std::string("Grandstream"), kGrandstreamMac, std::string("000b82123456"),
                        std::string("4940777888"), bobCdrs[0]["unique_id"].get<std::string>(),
                        std::string("bob-call-busy"), std::to_string(bobG.sock.addr().port)})
    EXPECT_EQ(text.find(s), std::string::npos) << "'" << s << "' from bob's data is in alice's export:\n" << text;

  // Without --out: the same document under "export".
  Json inline_ = ctlJson(data, {"export", "alice@example.com"});
  ASSERT_TRUE(inline_.contains("export"));
  EXPECT_EQ(inline_["export"]["cdrs"].size(), 2u);
  EXPECT_EQ(ctl(data, {"export", "alice"}).rc, 2) << "USER@TENANT is required";
  EXPECT_EQ(edge->stop(), 0);
}

TEST_F(UserData, EraseLeavesOnlyLegalHoldCdrsAndIsAudited) {
  ASSERT_NO_FATAL_FAILURE(populate());
  const Json* answered = findBy(aliceCdrs, "disposition", "ANSWERED");
  ASSERT_TRUE(answered);
  std::string heldId = (*answered)["unique_id"];
  ASSERT_EQ(ctl(data, {"hold", heldId}).rc, 0);
  Json bobBefore = ctlJson(data, {"export", "bob@example.com"})["export"];

  EXPECT_EQ(ctl(data, {"erase", "alice@example.com"}).rc, 2) << "erase without --yes must refuse";
  EXPECT_EQ(devices(data, "alice@example.com").size(), 2u);
  auto e = ctl(data, {"erase", "alice@example.com", "--yes"});
  ASSERT_EQ(e.rc, 0) << e.err;

  EXPECT_TRUE(ipLog(data, "alice@example.com").empty());
  EXPECT_TRUE(devices(data, "alice@example.com").empty());
  Json left = cdrs(data, "alice@example.com", true);
  ASSERT_EQ(left.size(), 1u) << left.dump(1);
  EXPECT_EQ(left[0]["unique_id"], heldId);
  EXPECT_EQ(left[0]["legal_hold"], true);

  Json bobAfter = ctlJson(data, {"export", "bob@example.com"})["export"];
  for (auto* k : {"ip_log", "devices", "cdrs"}) EXPECT_EQ(bobAfter[k], bobBefore[k]) << k;

  Json audit = ctlJson(data, {"audit"});
  const Json* erase = nullptr;
  for (auto& a : audit["audit"])
    if (a["operation"] == "erase-user" && a["target"] == "alice@example.com") erase = &a;
  ASSERT_TRUE(erase) << audit.dump(1);
  EXPECT_EQ((*erase)["result"].get<std::string>().rfind("ok", 0), 0u) << erase->dump();
  EXPECT_NE((*erase)["result"].get<std::string>().find("1 legal-hold"), std::string::npos) << erase->dump();
  bool holdAudited = false;
  for (auto& a : audit["audit"]) holdAudited |= a["operation"] == "legal-hold" && a["target"] == heldId;
  EXPECT_TRUE(holdAudited) << audit.dump(1);

  // After the release, the CDR is ordinary again (and a second erase removes it).
  ASSERT_EQ(ctl(data, {"release", heldId}).rc, 0);
  ASSERT_EQ(ctl(data, {"erase", "alice@example.com", "--yes"}).rc, 0);
  EXPECT_TRUE(cdrs(data, "alice@example.com", true).empty());
  EXPECT_EQ(edge->stop(), 0);

  // sipedge stopped: sipedge-ctl opens the store itself and sees the same.
  EXPECT_TRUE(cdrs(data, "alice@example.com", true).empty());
  EXPECT_EQ(cdrs(data, "bob@example.com", true).size(), 1u);
}

// ================================================================== 9. at rest

// Every regular file under `dir` that contains `needle` (binary-safe).
std::vector<std::string> filesContaining(const std::string& dir, const std::string& needle) {
  std::vector<std::string> hits;
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    std::string bytes = slurp(e.path().string());
    if (bytes.find(needle) != std::string::npos) hits.push_back(e.path().string());
  }
  return hits;
}

bool isRocksTextFile(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  return name == "LOG" || name.rfind("LOG.old", 0) == 0 || name.rfind("OPTIONS-", 0) == 0;
}

TEST_F(UserData, NothingCapturedIsInClearTextAtRest) {
  ASSERT_NO_FATAL_FAILURE(populate());
  Phone number("127.0.0.6", "4930555123987", kZoiperUa + " ursula-build");
  ASSERT_EQ(doRegister(*edge, pbx, number, number.contact(), 600, 200, 600).status, 200);
  Phone named("127.0.0.5", "ursula.kowalski", kYealinkUa);
  ASSERT_EQ(doRegister(*edge, pbx, named, named.contact(), 600, 200, 600).status, 200);
  {
    OutCall c(*edge, pbx, number, "num-call-1", "4940222333", "Ursula Kowalski");
    ASSERT_TRUE(c.invite());
    ASSERT_TRUE(c.pbxAnswers(480, "Temporarily Unavailable"));
    c.ack();
  }
  ASSERT_EQ(waitRows("cdrs", number.aor(), 1).size(), 1u);
  ASSERT_EQ(waitRows("devices", number.aor(), 1).size(), 1u);
  ASSERT_EQ(waitRows("devices", named.aor(), 1).size(), 1u);

  std::vector<std::string> secrets = {
      // captured source IPs (127.0.0.1 is checked below, outside RocksDB's own text files)
      "127.0.0.5", "127.0.0.6",
      // user names ("bob" alone is too short to grep in megabytes of ciphertext), numbers used as users,
      // called numbers, display names
      "alice", "ursula.kowalski", "4930555123987", "4940111222", "4940111333", "4940777888", "4940222333",
      "Ursula Kowalski", "Alice A", "Bob B",
      // User-Agent strings (and their parsed parts)
      kYealinkUa, kZoiperUa, kGrandstreamUa, "ursula-build", "Yealink", "Grandstream", "GXP2170", "66.86.0.15",
      // MACs, in every spelling the phones used
      kYealinkMac, "001565aabbcc", kGrandstreamMac, "000b82123456",
      // instance URNs, CDR ids, Call-IDs
      "urn:uuid", aliceCdrs[0]["unique_id"].get<std::string>(), bobCdrs[0]["unique_id"].get<std::string>(),
      "alice-call-answered", "bob-call-busy"};
  std::string store = data + "/store";
  ASSERT_TRUE(fs::is_directory(store)) << store;

  auto check = [&](const char* when) {
    for (auto& s : secrets) {
      auto hits = filesContaining(data, s);  // the store, its key, the route key
      EXPECT_TRUE(hits.empty()) << when << ": '" << s << "' in clear text in " << joined(hits);
    }
    // 127.0.0.1 is also sipedge's own listen and internal address, which RocksDB's LOG/OPTIONS text files could
    // legitimately mention (they do not today); every other file must not hold it.
    for (auto& f : filesContaining(data, "127.0.0.1"))
      EXPECT_TRUE(isRocksTextFile(f)) << when << ": '127.0.0.1' in " << f;
  };
  check("while running (WAL)");
  EXPECT_EQ(edge->stop(), 0);
  check("after SIGTERM");

  // The tool reads it back (so the data really was there, encrypted).
  EXPECT_EQ(devices(data, "alice@example.com").size(), 2u);
  EXPECT_EQ(cdrs(data, number.aor(), true).size(), 1u);

  struct stat st {};
  ASSERT_EQ(::stat((data + "/store.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << std::oct << (st.st_mode & 0777);
  EXPECT_EQ(st.st_size, 32);
  ASSERT_EQ(::stat(data.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u) << "data_dir is open to others: " << std::oct << (st.st_mode & 0777);
  std::vector<std::string> names;
  for (auto& e : fs::recursive_directory_iterator(store)) names.push_back(e.path().filename().string());
  std::cerr << "store files: " << joined(names) << "\n";
}

// ================================================================== 10. kill -9 under load

namespace {

// A whole config whose store lives in `data` (outside the process's own temp dir), so a test can kill sipedge
// and start another on the same store.
std::string restartableToml(const std::string& data, int workers, const Pbx& pbx, const std::string& capture = "") {
  return "[server]\nworkers = " + std::to_string(workers) + "\ndata_dir = \"" + data +
         "\"\nlog_level = \"info\"\n\n"
         "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1\"\nport = 0\n\n"
         "[internal]\naddress = \"127.0.0.1\"\nport_base = 0\n\n" +
         captureToml(pbx, capture);
}

}  // namespace

TEST(CaptureCrash, KillDashNineUnderLoadKeepsWhatWasAcknowledged) {
  Pbx pbx;
  pbx.autoRegister = true;
  std::string shared = makeTempDir();
  std::string data = shared + "/data";
  auto toml = [&] { return restartableToml(data, 2, pbx); };
  auto edge = std::make_unique<SipedgeProcess>(toml(), 2, true);
  ASSERT_TRUE(edge->started()) << edge->log();

  // Phase 1: 300 users, each REGISTER answered before the next (several sockets, so both workers get some).
  const int acked = 300;
  std::vector<std::unique_ptr<Phone>> phones;
  const char* ips[] = {"127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8"};
  for (int s = 0; s < 8; ++s) phones.push_back(std::make_unique<Phone>(ips[s % 4], "x", kYealinkUa));
  auto regFor = [&](Phone& p, int i) {
    p.user = "crash" + std::to_string(i);
    p.callId = "crash-reg-" + std::to_string(i);
    p.cseq = 0;
    return registerMsg(p, "<sip:" + p.user + "@" + p.sock.addr().hostport() + ">", 3600);
  };
  for (int i = 0; i < acked; ++i) {
    Phone& p = *phones[static_cast<std::size_t>(i) % phones.size()];
    bool ok = false;
    for (int attempt = 0; attempt < 3 && !ok; ++attempt) {
      p.sock.sendTo(edge->ports().udp, regFor(p, i));
      auto r = p.sock.recv(1000ms);
      ok = r && statusCode(*r) == 200;
    }
    ASSERT_TRUE(ok) << "REGISTER " << i << " not answered";
  }
  std::set<std::string> want;
  for (int i = 0; i < acked; ++i) want.insert("crash" + std::to_string(i) + "@" + kTenant);
  std::set<std::string> have;
  ASSERT_TRUE(waitFor(
      [&] {
        have = usersOf(data);
        return std::includes(have.begin(), have.end(), want.begin(), want.end());
      },
      10000ms))
      << "only " << have.size() << " of " << acked << " users acknowledged";

  // Phase 2: a bounded burst of 3000 more, paced to what sipedge and the PBX keep up with (at most 64 in
  // flight), and SIGKILL from the sending thread the moment 500 of them were answered: the kill lands mid-burst,
  // with events in the queues (a poll from another thread missed it once sipedge answered 2,500 in one poll).
  const int burstSize = 3000;
  std::atomic<bool> killed{false};
  std::atomic<int> sent{0}, sentAtKill{0}, answeredAtKill{0};
  const int before = pbx.registersAnswered;
  auto answered = [&] { return pbx.registersAnswered - before; };
  auto killNow = [&] {
    if (killed.exchange(true)) return;
    ::kill(edge->pid(), SIGKILL);
    sentAtKill = sent.load();
    answeredAtKill = answered();
  };
  std::thread burst([&] {
    for (int i = acked; i < acked + burstSize && !killed; ++i) {
      auto until = std::chrono::steady_clock::now() + 200ms;  // a lost datagram must not stall the burst
      while (sent - answered() > 64 && answered() < 500 && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(100us);
      if (answered() >= 500) {
        killNow();
        break;
      }
      Phone& p = *phones[static_cast<std::size_t>(i) % phones.size()];
      p.sock.sendTo(edge->ports().udp, regFor(p, i));
      ++sent;
    }
  });
  bool midBurst = waitFor([&] { return killed.load(); }, 20000ms);
  killNow();  // the burst ended (or stalled) before 500 answers: kill anyway, the check below fails
  burst.join();
  edge->stop(1000ms);  // reaps the killed process
  std::cerr << "burst: " << sentAtKill << " of " << burstSize << " sent, " << answeredAtKill
            << " answered by the PBX when kill -9 hit\n";
  EXPECT_TRUE(midBurst && sentAtKill < burstSize && answeredAtKill >= 500) << "the kill did not land mid-burst";

  // Restart on the same data dir: it starts, the store opens, the acknowledged users are all there.
  auto again = std::make_unique<SipedgeProcess>(toml(), 2, true);
  ASSERT_TRUE(again->started()) << again->log();
  have = usersOf(data);
  std::vector<std::string> missing;
  for (auto& u : want)
    if (!have.count(u)) missing.push_back(u);
  EXPECT_TRUE(missing.empty()) << missing.size() << " acknowledged users lost, e.g. " << missing.front();
  std::size_t burstKept = have.size() - (want.size() - missing.size());
  std::cerr << "after restart: " << have.size() << " users (" << burstKept << " from the burst)\n";
  // And it keeps capturing.
  Phone late("127.0.0.5", "after-restart", kZoiperUa);
  late.sock.sendTo(again->ports().udp, registerMsg(late, late.contact(), 60));
  auto r = late.sock.recv(2000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(statusCode(*r), 200);
  EXPECT_TRUE(waitFor([&] { return usersOf(data).count("after-restart@example.com") > 0; }));
  EXPECT_EQ(again->stop(), 0);
  again.reset();
  edge.reset();
  std::system(("rm -rf '" + shared + "'").c_str());
}

// A REGISTER that only refreshes a binding the store holds unchanged is written within
// capture.refresh_write_interval: a kill -9 loses at most that interval's refreshes (the README's one exception to
// the crash bound), never the registration itself; with "0s" every refresh is written at once and survives.
TEST(CaptureCrash, KillDashNineLosesAtMostTheIntervalsRefreshes) {
  for (const char* interval : {"60s", "0s"}) {
    SCOPED_TRACE(std::string("refresh_write_interval = ") + interval);
    Pbx pbx;
    pbx.autoRegister = true;
    std::string shared = makeTempDir();
    std::string data = shared + "/data";
    auto toml = [&] {
      return restartableToml(data, 1, pbx, std::string("refresh_write_interval = \"") + interval + "\"\n");
    };
    auto edge = std::make_unique<SipedgeProcess>(toml(), 1, true);
    ASSERT_TRUE(edge->started()) << edge->log();
    Phone phone("127.0.0.5", "refresher", kZoiperUa);
    const int registers = 4;  // the registration, then three refreshes of the same binding
    for (int i = 0; i < registers; ++i) {
      phone.sock.sendTo(edge->ports().udp, registerMsg(phone, phone.contact(), 3600));
      auto r = phone.sock.recv(2000ms);
      ASSERT_TRUE(r && statusCode(*r) == 200) << "REGISTER " << i;
    }
    // Long enough for the writer to write whatever it writes at once (it lingers 40 ms). Reading through
    // sipedge-ctl now would write the pending refreshes first, so the store is read only after the kill.
    std::this_thread::sleep_for(1000ms);
    ASSERT_EQ(::kill(edge->pid(), SIGKILL), 0);
    edge->stop(1000ms);
    auto again = std::make_unique<SipedgeProcess>(toml(), 1, true);
    ASSERT_TRUE(again->started()) << again->log();
    Json log = ipLog(data, "refresher@example.com");
    ASSERT_EQ(log.size(), 1u) << log.dump(1);
    EXPECT_EQ(log[0]["count"], std::string(interval) == "0s" ? registers : 1)
        << "60s: the refreshes were still pending when kill -9 hit; 0s: each was written at once";
    EXPECT_EQ(devices(data, "refresher@example.com").size(), 1u) << "the device survives either way";
    EXPECT_EQ(again->stop(), 0);
    again.reset();
    edge.reset();
    std::system(("rm -rf '" + shared + "'").c_str());
  }
}

// ================================================================== 11. config and key errors

class ConfigErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = makeTempDir();
    data = dir + "/data";
  }
  void TearDown() override { std::system(("rm -rf '" + dir + "'").c_str()); }
  std::string config(const std::string& capture, const std::string& store = "") {
    std::string path = dir + "/sipedge.toml";
    std::ofstream f(path);
    f << "[server]\nworkers = 1\ndata_dir = \"" << data << "\"\n\n[[listen]]\ntransport = \"udp\"\n"
      << "address = \"127.0.0.1\"\nport = 0\n\n[internal]\naddress = \"127.0.0.1\"\nport_base = 0\n\n"
      << "[pbx]\ntargets = [\"udp:127.0.0.2:5080\"]\n\n[capture]\n"
      << capture << "\n[store]\n"
      << store << "\n";
    return path;
  }
  // Runs sipedge with `path`; it must exit 1 by itself (bounded), naming the problem.
  RunResult mustFail(const std::string& path) {
    std::string ready = dir + "/ready";
    auto r = runBounded({sipedgeBinary(), "--config", path, "--ready-file", ready}, 10000ms,
                        [&] { return fs::exists(ready); });
    EXPECT_EQ(r.rc, 1) << "sipedge should refuse to start:\n" << r.out << r.err;
    EXPECT_FALSE(fs::exists(ready)) << "it became ready";
    fs::remove(ready);
    return r;
  }
  // Starts and stops sipedge once, so the store and its key exist.
  void createStore() {
    std::string path = config("");
    pid_t pid = ::fork();
    if (pid == 0) {
      int fd = ::open("/dev/null", O_WRONLY);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::string bin = sipedgeBinary(), ready = dir + "/ready";
      ::execl(bin.c_str(), bin.c_str(), "--config", path.c_str(), "--ready-file", ready.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ASSERT_TRUE(waitFor([&] { return fs::exists(dir + "/ready"); }, 10000ms));
    ::kill(pid, SIGTERM);
    int st = 0;
    ASSERT_EQ(::waitpid(pid, &st, 0), pid);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    fs::remove(dir + "/ready");
    ASSERT_TRUE(fs::exists(data + "/store.key"));
  }
  std::string dir, data;
};

TEST_F(ConfigErrors, BadDurationIsNamed) {
  auto r = mustFail(config("max_call_duration = \"2 hours\"\n"));
  EXPECT_NE((r.out + r.err).find("capture.max_call_duration"), std::string::npos) << r.err;
  EXPECT_NE((r.out + r.err).find("2 hours"), std::string::npos) << r.err;
  r = mustFail(config("sweep_interval = \"soon\"\n"));
  EXPECT_NE((r.out + r.err).find("capture.sweep_interval"), std::string::npos) << r.err;
  r = mustFail(config("", "cdr_retention = \"12 months\"\n"));
  EXPECT_NE((r.out + r.err).find("store.cdr_retention"), std::string::npos) << r.err;
  r = mustFail(config("", "ip_log_retention = 90\n"));
  EXPECT_NE((r.out + r.err).find("store.ip_log_retention"), std::string::npos) << r.err;
}

TEST_F(ConfigErrors, BadProvisionedMacIsNamed) {
  auto r = mustFail(config("provisioned = [\"00:15:65:aa:bb:cc\", \"00:15:65:zz:bb:cc\"]\n"));
  EXPECT_NE((r.out + r.err).find("capture.provisioned"), std::string::npos) << r.err;
  EXPECT_NE((r.out + r.err).find("00:15:65:zz:bb:cc"), std::string::npos) << r.err;
  r = mustFail(config("provisioned = [\"00:15:65:aa:bb\"]\n"));  // five octets
  EXPECT_NE((r.out + r.err).find("capture.provisioned"), std::string::npos) << r.err;
}

// capture/mac.h: all-zero, broadcast and multicast addresses "never name one device", so capture never reports
// one as a device's MAC; provisioning one can never match anything and must be refused like any other bad MAC.
TEST_F(ConfigErrors, ProvisionedMacThatNoDeviceCanHaveIsRefused) {
  for (std::string mac : {"01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"}) {
    auto r = mustFail(config("provisioned = [\"" + mac + "\"]\n"));
    EXPECT_NE((r.out + r.err).find("capture.provisioned"), std::string::npos) << mac << ": " << r.out << r.err;
  }
}

TEST_F(ConfigErrors, MissingKeyFileForAnExistingStore) {
  ASSERT_NO_FATAL_FAILURE(createStore());
  fs::remove(data + "/store.key");
  auto r = mustFail(config(""));
  EXPECT_NE(r.err.find("store.key"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(data + "/store.key")) << "a new key was created silently for an existing store";
  // The tool says the same.
  auto c = ctl(data, {"users"});
  EXPECT_EQ(c.rc, 1);
  EXPECT_NE(c.err.find("store.key"), std::string::npos) << c.err;
}

TEST_F(ConfigErrors, WrongKeyFile) {
  ASSERT_NO_FATAL_FAILURE(createStore());
  {
    std::ofstream f(data + "/store.key", std::ios::binary | std::ios::trunc);
    f << std::string(32, '\x5a');
  }
  fs::permissions(data + "/store.key", fs::perms::owner_read | fs::perms::owner_write);
  auto r = mustFail(config(""));
  EXPECT_NE(r.err.find("does not match"), std::string::npos) << r.err;
  // Looser permissions than 0600 are refused too.
  fs::permissions(data + "/store.key",
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  r = mustFail(config(""));
  EXPECT_NE(r.err.find("store.key"), std::string::npos) << r.err;
  // A key of the wrong size.
  {
    std::ofstream f(data + "/store.key", std::ios::binary | std::ios::trunc);
    f << "short";
  }
  fs::permissions(data + "/store.key", fs::perms::owner_read | fs::perms::owner_write);
  r = mustFail(config(""));
  EXPECT_NE(r.err.find("store.key"), std::string::npos) << r.err;
}

TEST(CaptureCtl, MissingStoreAndBadArgumentsAreClearErrors) {
  std::string dir = makeTempDir();
  auto r = ctl(dir + "/nothing-here", {"users"});
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("store not found"), std::string::npos) << r.err;
  r = ctl(dir, {"frobnicate"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown command"), std::string::npos) << r.err;
  r = ctl(dir, {"iplog", "no-at-sign"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("USER@TENANT"), std::string::npos) << r.err;
  std::system(("rm -rf '" + dir + "'").c_str());
}

// ================================================================== stats over the management channel

// `sipedge-ctl stats` asks the running proxy, with capture off too: each UDP message it received is in the
// forwarding-delay histogram; store requests get a clear error while capture is off, and stats without a running
// sipedge is an error rather than an empty answer.
TEST(Stats, EveryUdpMessageIsCountedWithItsForwardingDelay) {
  Pbx pbx;
  SipedgeProcess edge(pbxToml({pbx.target()}, 200, 150) + "\n[capture]\nenabled = false\n");
  ASSERT_TRUE(edge.started()) << edge.log();
  const std::string data = edge.dir() + "/data";
  auto delayTotal = [](const Json& j) {
    std::uint64_t n = 0;
    for (auto& c : j["udp_forward_delay_us"]["count"]) n += c.get<std::uint64_t>();
    return n;
  };

  Json s0 = ctlJson(data, {"stats"});
  ASSERT_TRUE(s0.is_object());
  ASSERT_EQ(s0["udp_forward_delay_us"]["le"].size(), s0["udp_forward_delay_us"]["count"].size());
  EXPECT_TRUE(s0["udp_forward_delay_us"]["le"].back().is_null()) << "the last bucket is open";

  UdpPeer phone;
  constexpr int kN = 40;
  for (int i = 0; i < kN; ++i) {
    Req r;
    r.method = "OPTIONS";
    r.callId = "stats-" + std::to_string(i);
    phone.sendTo(edge.ports().udp, build(r, phone.addr()));
  }
  int atPbx = 0;
  while (atPbx < kN && pbx.next(2000ms)) ++atPbx;
  ASSERT_EQ(atPbx, kN) << "every OPTIONS reaches the PBX";

  Json s1 = ctlJson(data, {"stats"});
  ASSERT_TRUE(s1.is_object());
  const auto rx = s1["counters"]["rxPackets"].get<std::uint64_t>() - s0["counters"]["rxPackets"].get<std::uint64_t>();
  const auto forwarded = s1["counters"]["forwardedRequests"].get<std::uint64_t>() -
                         s0["counters"]["forwardedRequests"].get<std::uint64_t>();
  const auto delays = delayTotal(s1) - delayTotal(s0);
  EXPECT_GE(forwarded, std::uint64_t{kN});
  EXPECT_GE(rx, std::uint64_t{kN});
  // Health-ping answers keep arriving: a message counted in rxPackets may not have reached the histogram yet.
  EXPECT_GE(delays, std::uint64_t{kN});
  EXPECT_LE(delays, rx);
  auto counts = s1["udp_forward_delay_us"]["count"];
  EXPECT_LT(counts.back().get<std::uint64_t>() - s0["udp_forward_delay_us"]["count"].back().get<std::uint64_t>(),
            std::uint64_t{kN})
      << "a loopback forward takes less than 50 ms";
  EXPECT_GT(s1["udp_forward_delay_us"]["sum"].get<std::uint64_t>(), 0u);

  auto users = ctl(data, {"users"});
  EXPECT_EQ(users.rc, 1);
  EXPECT_NE(users.err.find("capture is off"), std::string::npos) << users.err;

  ASSERT_EQ(edge.stop(), 0);
  auto gone = ctl(data, {"stats"});
  EXPECT_EQ(gone.rc, 1);
  EXPECT_NE(gone.err.find("running sipedge"), std::string::npos) << gone.err;
}

// The proxy's dialog table follows calls with capture off too (stats "gauges"): an INVITE opens a dialog, the
// BYE of an answered call and the 487 of a cancelled one end it; OPTIONS for sipedge itself is an answer the
// stats name by its reason.
TEST(Stats, DialogTableFollowsCallsWithCaptureOff) {
  Pbx pbx;
  SipedgeProcess edge(pbxToml({pbx.target()}, 200, 150) + "\n[capture]\nenabled = false\n");
  ASSERT_TRUE(edge.started()) << edge.log();
  const std::string data = edge.dir() + "/data";
  auto open = [&] { return ctlJson(data, {"stats"})["gauges"]["dialogs_open"].get<std::uint64_t>(); };
  ASSERT_EQ(open(), 0u);

  Phone alice("127.0.0.5", "alice", "Yealink SIP-T46S 66.86.0.15");
  OutCall answered(edge, pbx, alice, "dlg-answered", "200", "");
  ASSERT_TRUE(answered.invite());
  EXPECT_EQ(open(), 1u);
  ASSERT_TRUE(answered.pbxAnswers(180, "Ringing"));
  ASSERT_TRUE(answered.pbxAnswers(200, "OK"));
  answered.ack();
  EXPECT_EQ(open(), 1u) << "an answered call stays until its BYE";

  Phone bob("127.0.0.6", "bob", "Yealink SIP-T46S 66.86.0.15");
  OutCall cancelled(edge, pbx, bob, "dlg-cancelled", "300", "");
  ASSERT_TRUE(cancelled.invite());
  EXPECT_EQ(open(), 2u);
  cancelled.cancel();
  ASSERT_TRUE(cancelled.pbxAnswers(487, "Request Terminated"));
  EXPECT_EQ(open(), 1u);
  answered.byeFromPhone();
  EXPECT_EQ(open(), 0u);

  Json before = ctlJson(data, {"stats"});
  UdpPeer probe("127.0.0.7");
  const std::string us = edge.ports().udp.hostport();
  probe.sendTo(edge.ports().udp, "OPTIONS sip:" + us + " SIP/2.0\r\nVia: SIP/2.0/UDP " + probe.addr().hostport() +
                                     ";branch=z9hG4bK-dlg-opt;rport\r\nMax-Forwards: 70\r\nFrom: <sip:probe@" + us +
                                     ">;tag=p1\r\nTo: <sip:" + us +
                                     ">\r\nCall-ID: dlg-options\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
  auto ok = probe.recv(2000ms);
  ASSERT_TRUE(ok);
  EXPECT_EQ(statusCode(*ok), 200);
  Json after = ctlJson(data, {"stats"});
  EXPECT_EQ(after["verdicts"]["options_answered"].get<std::uint64_t>() -
                before["verdicts"]["options_answered"].get<std::uint64_t>(),
            1u);
  ASSERT_EQ(edge.stop(), 0);
}

// ================================================================== enrichment

TEST_F(Capture, IpLogRowsGetRegionIspAndHostname) {
  // A tiny MaxMind database, written by the test: 127.0.1.0/24 is "DE/Bavaria/Munich", ISP "Example Telecom".
  std::string dbDir = makeTempDir();
  sipedge::testdata::mmdb::Writer w(6);
  using sipedge::testdata::mmdb::Value;
  w.insert("127.0.1.0/24",
           Value::m({{"city", Value::m({{"names", Value::m({{"en", Value::s("Munich")}})}})},
                     {"country", Value::m({{"iso_code", Value::s("DE")}})},
                     {"subdivisions", Value::a({Value::m({{"names", Value::m({{"en", Value::s("Bavaria")}})}})})},
                     {"isp", Value::s("Example Telecom")}}));
  w.writeFile(dbDir + "/geo.mmdb");
  start("geoip_database = \"" + dbDir + "/geo.mmdb\"\nreverse_dns = true\n");
  Phone inMunich("127.0.1.7", "maria", kZoiperUa);
  Phone local("127.0.0.1", "maria", kZoiperUa);
  EXPECT_EQ(doRegister(*edge, pbx, inMunich, inMunich.contact(), 3600, 200, 3600).status, 200);
  EXPECT_EQ(doRegister(*edge, pbx, local, local.contact(), 3600, 200, 3600).status, 200);
  Json rows = waitRows("iplog", inMunich.aor(), 2);
  ASSERT_EQ(rows.size(), 2u) << rows.dump();
  for (auto& r : rows) {
    if (r.value("ip", "") == "127.0.1.7") {
      EXPECT_EQ(r.value("region", ""), "DE/Bavaria/Munich") << r.dump();
      EXPECT_EQ(r.value("isp", ""), "Example Telecom");
    } else {
      EXPECT_EQ(r.value("region", ""), "") << r.dump();
    }
  }
  // 127.0.0.1's name comes from /etc/hosts on the resolver thread, after the row was written: it arrives later.
  std::string host;
  waitFor(
      [&] {
        for (auto& r : ipLog(data, local.aor()))
          if (r.value("ip", "") == "127.0.0.1") host = r.value("hostname", "");
        return !host.empty();
      },
      5000ms);
  if (host.empty()) GTEST_SKIP() << "this machine's resolver gives 127.0.0.1 no name";
  EXPECT_NE(host.find("localhost"), std::string::npos) << host;
  std::system(("rm -rf '" + dbDir + "'").c_str());
}

TEST_F(ConfigErrors, MissingGeoipDatabaseIsNamed) {
  Pbx pbx;
  SipedgeProcess edge(captureToml(pbx, "geoip_database = \"/nonexistent/geo.mmdb\"\n"));
  EXPECT_FALSE(edge.started());
  EXPECT_NE(edge.log().find("/nonexistent/geo.mmdb"), std::string::npos) << edge.log();
}
