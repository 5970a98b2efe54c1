// Garbage/fuzz-style end-to-end tests: thousands of mutated SIP messages (see mutator.h) go to the real sipedge
// binary over UDP and TCP while a PBX peer on 127.0.0.2 answers pings and whatever gets forwarded. Between
// batches and at the end, sipedge must still answer an OPTIONS addressed to it within 1 s over UDP and TCP,
// every request it forwards must be well formed, and SIGTERM must stop it with status 0 (under ASan: no
// sanitizer report and no leak). Counts scale with SIPEDGE_FUZZ_SCALE (default 1); SIPEDGE_FUZZ_SEED picks
// another run. A failing run names the message index, the mutations and the exact bytes, and writes them
// to a reproducer folder under /tmp.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "harness.h"
#include "mutator.h"

using namespace sipedge::test;
using Clock = std::chrono::steady_clock;

namespace {

// ---------------------------------------------------------------- knobs

double fuzzScale() {
  const char* s = std::getenv("SIPEDGE_FUZZ_SCALE");
  if (!s || !*s) return 1.0;
  double v = std::atof(s);
  return v > 0 ? v : 1.0;
}

std::size_t scaled(std::size_t base) {
  return std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(static_cast<double>(base) * fuzzScale())));
}

std::uint64_t fuzzSeed() {
  const char* s = std::getenv("SIPEDGE_FUZZ_SEED");
  return s && *s ? std::strtoull(s, nullptr, 0) : 0x51bed6e2024ULL;
}

// Wall-clock cap per test (ctest kills at 120 s at scale 1): running out is a failure, not a silent pass.
std::chrono::milliseconds budget() {
  return std::chrono::milliseconds(static_cast<long long>(90000 * std::max(1.0, fuzzScale())));
}
constexpr auto kLiveness = 1000ms;  // the task's promise: OPTIONS answered within 1 s

// ---------------------------------------------------------------- process state

// kill(pid, 0) succeeds on a zombie, so a crashed child would still look alive: read its state instead.
bool processRunning(pid_t pid) {
  if (pid <= 0) return false;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto rp = stat.rfind(')');
  if (rp == std::string::npos || rp + 2 >= stat.size()) return false;
  char st = stat[rp + 2];
  return st != 'Z' && st != 'X';
}

std::size_t openFds(pid_t pid) {
  std::size_t n = 0;
  DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return 0;
  while (auto* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

// Datagrams the kernel dropped at the UDP sockets bound to `ports` (the last column of /proc/net/udp).
long udpDrops(const std::vector<int>& ports) {
  std::ifstream f("/proc/net/udp");
  std::string line;
  std::getline(f, line);  // header
  long drops = 0;
  while (std::getline(f, line)) {
    std::istringstream ls(line);
    std::string sl, local, field;
    ls >> sl >> local;
    auto colon = local.find(':');
    if (colon == std::string::npos) continue;
    int port = static_cast<int>(std::strtol(local.c_str() + colon + 1, nullptr, 16));
    if (std::find(ports.begin(), ports.end(), port) == ports.end()) continue;
    std::string last;
    while (ls >> field) last = field;
    drops += std::atol(last.c_str());
  }
  return drops;
}

std::string sanitizerReport(const std::string& log) {
  for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: "}) {
    auto p = log.find(marker);
    if (p != std::string::npos) return log.substr(p > 200 ? p - 200 : 0, 6000);
  }
  return "";
}

std::string tail(const std::string& s, std::size_t n = 6000) {
  return s.size() > n ? s.substr(s.size() - n) : s;
}

// A UDP socket like the harness's UdpPeer but with large buffers: sipedge answers bursts of garbage with bursts
// of (sometimes 60 KiB) replies, and a dropped reply must not look like a stall.
class FuzzUdp {
 public:
  explicit FuzzUdp(const std::string& ip) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    int sz = 8 << 20;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    ::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) throw std::runtime_error("bind udp " + ip);
    socklen_t len = sizeof sa;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len);
    local_ = {ip, ntohs(sa.sin_port)};
  }
  ~FuzzUdp() { ::close(fd_); }
  FuzzUdp(const FuzzUdp&) = delete;
  FuzzUdp& operator=(const FuzzUdp&) = delete;
  Addr addr() const { return local_; }
  void sendTo(const Addr& to, const std::string& data) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(to.port));
    ::inet_pton(AF_INET, to.ip.c_str(), &sa.sin_addr);
    ::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  }
  std::optional<std::string> recv(std::chrono::milliseconds timeout, Addr* from = nullptr) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    std::string buf(65536, '\0');
    sockaddr_in sa{};
    socklen_t len = sizeof sa;
    ssize_t n = ::recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&sa), &len);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<std::size_t>(n));
    if (from) {
      char ip[64];
      ::inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof ip);
      *from = {ip, ntohs(sa.sin_port)};
    }
    return buf;
  }

 private:
  int fd_ = -1;
  Addr local_;
};

// ---------------------------------------------------------------- SIP text helpers

std::string lowerName(std::string_view line) {
  auto c = line.find(':');
  std::string n(line.substr(0, c == std::string_view::npos ? 0 : c));
  while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.pop_back();
  for (auto& ch : n) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return n;
}

std::string valueOf(std::string_view line) {
  auto c = line.find(':');
  if (c == std::string_view::npos) return "";
  std::string v(line.substr(c + 1));
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
  return v;
}

// Header lines of the block before the first empty line (continuations glued on), start line excluded.
std::vector<std::string> headerLines(const std::string& m) {
  std::vector<std::string> out;
  auto he = m.find("\r\n\r\n");
  std::size_t pos = m.find("\r\n");
  if (he == std::string::npos || pos == std::string::npos) return out;
  while (pos < he) {
    std::size_t s = pos + 2;
    std::size_t e = m.find("\r\n", s);
    std::string line = m.substr(s, e - s);
    if (!out.empty() && !line.empty() && (line[0] == ' ' || line[0] == '\t'))
      out.back() += line;
    else
      out.push_back(line);
    pos = e;
  }
  return out;
}

bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::strchr("-.!%*_+`'~", c))) return false;
  return true;
}

bool isNamed(const std::string& n, std::string_view full, std::string_view compact) {
  return n == full || (!compact.empty() && n == compact);
}

// A response to `req` (a request as sipedge forwarded it, compact forms included).
std::string answer(const std::string& req, int code, const std::string& phrase) {
  std::string out = "SIP/2.0 " + std::to_string(code) + " " + phrase + "\r\n";
  for (auto& line : headerLines(req)) {
    std::string n = lowerName(line);
    if (isNamed(n, "via", "v") || isNamed(n, "from", "f") || isNamed(n, "call-id", "i") || n == "cseq" ||
        (n == "record-route" && code >= 200 && code < 300)) {
      out += line + "\r\n";
    } else if (isNamed(n, "to", "t")) {
      out += line;
      if (line.find("tag=") == std::string::npos && code > 100) out += ";tag=pbx" + std::to_string(code);
      out += "\r\n";
    }
  }
  return out + "Content-Length: 0\r\n\r\n";
}

std::string optionsTo(const Addr& edge, const Addr& from, const std::string& transport, const std::string& callId) {
  return "OPTIONS sip:" + edge.hostport() + (transport == "TCP" ? ";transport=tcp" : "") + " SIP/2.0\r\n" +
         "Via: SIP/2.0/" + transport + " " + from.hostport() + ";branch=z9hG4bK" + callId + ";rport\r\n" +
         "Max-Forwards: 70\r\nFrom: <sip:probe@" + from.hostport() + ">;tag=p1\r\nTo: <sip:" + edge.hostport() +
         ">\r\nCall-ID: " + callId + "\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
}

// ---------------------------------------------------------------- invariants on forwarded requests

// "" when `m`, a request sipedge sent to one of our peers, is well formed and carries sipedge's Via on top
// (one of `ours`, host:port) with the z9hG4bKse branch prefix, and Max-Forwards <= 70.
// "" when the header block is complete (ends in an empty line) and holds no NUL byte, bare LF or bare CR.
std::string checkHeaderBlock(const std::string& m) {
  auto he = m.find("\r\n\r\n");
  if (he == std::string::npos) return "no empty line after the header block";
  std::string_view head(m.data(), he + 2);
  if (auto z = head.find('\0'); z != std::string_view::npos) return "NUL byte in header block at " + std::to_string(z);
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) return "bare LF in header block at " + std::to_string(i);
    if (head[i] == '\r' && head[i + 1] != '\n') return "bare CR in header block at " + std::to_string(i);
  }
  return "";
}

// "" when `m`, a response sipedge sent (its own or relayed), has a SIP/2.0 status line and a clean header block.
std::string checkReply(const std::string& m) {
  if (m.size() < 12 || m.rfind("SIP/2.0 ", 0) != 0 || !std::isdigit(static_cast<unsigned char>(m[8])) ||
      !std::isdigit(static_cast<unsigned char>(m[9])) || !std::isdigit(static_cast<unsigned char>(m[10])) ||
      m[8] < '1' || m[8] > '6' || m[11] != ' ')
    return "status line is not 'SIP/2.0 [1-6]xx ...'";
  return checkHeaderBlock(m);
}

// True when the first line looks like a request line ("X Y SIP/2.0"), not a status line.
bool looksLikeRequest(const std::string& m) {
  std::string first = m.substr(0, m.find("\r\n"));
  return first.rfind("SIP/", 0) != 0 && first.size() > 8 && first.ends_with(" SIP/2.0");
}

std::string checkForwarded(const std::string& m, const std::vector<std::string>& ours) {
  if (auto e = checkHeaderBlock(m); !e.empty()) return e;
  auto he = m.find("\r\n\r\n");
  std::string rl = m.substr(0, m.find("\r\n"));
  auto a = rl.find(' ');
  auto b = rl.find(' ', a == std::string::npos ? 0 : a + 1);
  if (a == std::string::npos || b == std::string::npos || rl.find(' ', b + 1) != std::string::npos)
    return "request line is not 'METHOD URI SIP/2.0'";
  std::string method = rl.substr(0, a), uri = rl.substr(a + 1, b - a - 1), version = rl.substr(b + 1);
  if (!isToken(method)) return "method is not a token";
  if (uri.empty()) return "empty Request-URI";
  for (char c : uri)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return "control or 8-bit character in Request-URI";
  if (version != "SIP/2.0") return "version is not SIP/2.0";

  std::vector<std::string> vias, mfs, cls, cseqs;
  bool from = false, to = false, callId = false;
  for (auto& line : headerLines(m)) {
    if (line.find(':') == std::string::npos) return "header line without a colon: " + escapeBytes(line, 200);
    std::string n = lowerName(line);
    if (!isToken(n)) return "header name is not a token: " + escapeBytes(line, 200);
    std::string v = valueOf(line);
    if (isNamed(n, "via", "v"))
      vias.push_back(v);
    else if (n == "max-forwards")
      mfs.push_back(v);
    else if (isNamed(n, "content-length", "l"))
      cls.push_back(v);
    else if (n == "cseq")
      cseqs.push_back(v);
    else if (isNamed(n, "from", "f"))
      from = true;
    else if (isNamed(n, "to", "t"))
      to = true;
    else if (isNamed(n, "call-id", "i"))
      callId = true;
  }
  if (!from || !to || !callId || cseqs.size() != 1) return "missing or repeated mandatory header";
  auto sp = cseqs[0].find(' ');
  if (sp == std::string::npos || cseqs[0].substr(sp + 1) != method) return "CSeq method differs from the request's";
  if (vias.empty()) return "no Via";
  // The top Via is the one sipedge inserted, alone on its line: "SIP/2.0/UDP host:port;branch=z9hG4bKse...".
  const std::string& top = vias.front();
  bool known = false;
  for (auto& hp : ours)
    for (const char* tr : {"SIP/2.0/UDP ", "SIP/2.0/TCP "})
      if (top.rfind(tr + hp + ";branch=z9hG4bKse", 0) == 0) known = true;
  if (!known) return "top Via is not sipedge's: " + escapeBytes(top, 200);
  std::string branch = top.substr(top.find(";branch=") + 8);
  if (branch.size() != 9 + 28 || branch.find_first_not_of("0123456789abcdef", 9) != std::string::npos)
    return "sipedge's branch is malformed: " + escapeBytes(branch, 100);
  if (mfs.empty()) return "no Max-Forwards";
  for (auto& v : mfs) {
    if (v.empty() || v.size() > 3 || v.find_first_not_of("0123456789") != std::string::npos || std::stoi(v) > 70)
      return "Max-Forwards is not 0..70: " + escapeBytes(v, 50);
  }
  std::size_t body = m.size() - he - 4;
  for (auto& v : cls) {
    if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos ||
        static_cast<std::size_t>(std::stoul(v)) != body)
      return "Content-Length " + escapeBytes(v, 50) + " does not match the body (" + std::to_string(body) + " bytes)";
  }
  return "";
}

// Collects what sipedge sends to our peers, from any thread.
class ForwardLog {
 public:
  void setOurs(std::vector<std::string> ours) {
    std::lock_guard lk(mu_);
    ours_ = std::move(ours);
  }
  // Checks a request sipedge sent to `where`.
  void request(const std::string& m, const std::string& where) {
    std::vector<std::string> ours;
    {
      std::lock_guard lk(mu_);
      ours = ours_;
    }
    std::string err = checkForwarded(m, ours);
    std::lock_guard lk(mu_);
    ++requests_;
    if (err.empty()) return;
    ++violations_;
    ++kinds_["request " + kindOf(err)];
    if (samples_.size() < 10) samples_.push_back(where + ": " + err + "\n    bytes: \"" + escapeBytes(m, 3000) + "\"");
  }
  // Checks a response sipedge sent to `where`.
  void reply(const std::string& m, const std::string& where) { badReply(m, where, checkReply(m)); }
  // Counts a response sent to `where`, bad when `err` is not empty.
  void badReply(const std::string& m, const std::string& where, const std::string& err) {
    std::lock_guard lk(mu_);
    ++replies_;
    if (err.empty()) return;
    ++badReplies_;
    ++kinds_["response " + kindOf(err)];
    if (replySamples_.size() < 10)
      replySamples_.push_back(where + ": " + err + "\n    bytes: \"" + escapeBytes(m, 3000) + "\"");
  }
  std::size_t replies() const {
    std::lock_guard lk(mu_);
    return replies_;
  }
  std::size_t badReplies() const {
    std::lock_guard lk(mu_);
    return badReplies_;
  }
  std::string replySamples() const {
    std::lock_guard lk(mu_);
    std::string s;
    for (auto& x : replySamples_) s += "  " + x + "\n";
    return s;
  }
  // "kind: count" for every kind of broken invariant seen.
  std::string kinds() const {
    std::lock_guard lk(mu_);
    std::string s;
    for (auto& [k, n] : kinds_) s += "  " + k + ": " + std::to_string(n) + "\n";
    return s;
  }
  std::size_t requests() const {
    std::lock_guard lk(mu_);
    return requests_;
  }
  std::size_t violations() const {
    std::lock_guard lk(mu_);
    return violations_;
  }
  std::string samples() const {
    std::lock_guard lk(mu_);
    std::string s;
    for (auto& x : samples_) s += "  " + x + "\n";
    return s;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> ours_;
  std::size_t requests_ = 0, violations_ = 0, replies_ = 0, badReplies_ = 0;
  std::vector<std::string> samples_, replySamples_;
  std::map<std::string, std::size_t> kinds_;

  static std::string kindOf(const std::string& err) {
    auto cut = std::min({err.find(':'), err.find(" at "), err.find(" does not"), err.find(" (")});
    return err.substr(0, cut);
  }
};

// Splits what sipedge wrote on a TCP connection into messages (CRLF pongs between them are fine) and checks
// each: the stream must always frame, whatever garbage came in. A message cut off at the very end (sipedge
// closed or we stopped reading) is not judged.
void checkTcpStream(ForwardLog& log, const std::string& rx, const std::string& where) {
  std::size_t pos = 0;
  while (pos < rx.size()) {
    if (rx.compare(pos, 2, "\r\n") == 0) {
      pos += 2;
      continue;
    }
    auto he = rx.find("\r\n\r\n", pos);
    if (he == std::string::npos) return;
    std::string head = rx.substr(pos, he + 4 - pos);
    std::string cl = header(head, "Content-Length");
    if (cl.empty()) cl = header(head, "l");
    if (cl.empty() || cl.size() > 6 || cl.find_first_not_of("0123456789") != std::string::npos) {
      log.badReply(head, where, "TCP stream: message without a usable Content-Length");
      return;
    }
    std::size_t total = head.size() + std::stoul(cl);
    if (pos + total > rx.size()) return;
    std::string m = rx.substr(pos, total);
    if (looksLikeRequest(m))
      log.request(m, where);
    else
      log.reply(m, where);
    pos += total;
  }
}

bool isPing(const std::string& m) {
  return m.rfind("OPTIONS ", 0) == 0 && header(m, "Call-ID").rfind("sehc-", 0) == 0;
}

// The PBX on 127.0.0.2 (core zone): answers health pings, checks each forwarded request and answers it, now
// and then with a mutated response so the response path gets garbage from the trusted side as well.
class PbxPeer {
 public:
  PbxPeer(ForwardLog& log, std::uint64_t seed) : log_(log), seed_(seed), sock_("127.0.0.2") {
    thread_ = std::thread([this] { run(); });
  }
  ~PbxPeer() {
    stop_ = true;
    thread_.join();
  }
  Addr addr() const { return sock_.addr(); }
  void setEdge(const std::string& edgeInternal) {
    std::lock_guard lk(mu_);
    mut_ = std::make_unique<Mutator>(FuzzTargets{edgeInternal, addr().hostport(), addr().hostport()}, seed_ ^ 0x9b1);
  }
  // Replaces the automatic answers: `fn` gets each forwarded request and returns the reply ("" = none).
  void setResponder(std::function<std::string(const std::string&)> fn) {
    std::lock_guard lk(mu_);
    responder_ = std::move(fn);
  }
  std::size_t pings() const { return pings_; }
  std::size_t answered() const { return answered_; }
  std::size_t mutatedAnswers() const { return mutated_; }

 private:
  void run() {
    static const std::vector<std::pair<int, std::string>> codes = {
        {100, "Trying"}, {180, "Ringing"}, {200, "OK"}, {200, "OK"}, {404, "Not Found"}, {486, "Busy Here"}};
    while (!stop_) {
      Addr from;
      auto m = sock_.recv(50ms, &from);
      if (!m) continue;
      if (m->rfind("SIP/2.0 ", 0) == 0) continue;  // a response routed here: absorbed
      if (isPing(*m)) {
        ++pings_;
        sock_.sendTo(from, respond(*m, 200, "OK"));
        continue;
      }
      log_.request(*m, "to PBX");
      {
        std::lock_guard lk(mu_);
        if (responder_) {
          std::string r = responder_(*m);
          if (!r.empty()) sock_.sendTo(from, r);
          continue;
        }
      }
      if (m->rfind("ACK ", 0) == 0) continue;
      // Keyed by the request, not by arrival order (two workers forward concurrently).
      std::uint64_t h = 1469598103934665603ULL;
      for (char c : *m) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
      FuzzRng rng(seed_ ^ h);
      auto& [code, phrase] = rng.pick(codes);
      std::string r = answer(*m, code, phrase);
      {
        std::lock_guard lk(mu_);
        if (mut_ && rng.chance(15)) {
          r = mut_->mutate(r, rng);
          ++mutated_;
        }
      }
      sock_.sendTo(from, r);
      ++answered_;
    }
  }

  ForwardLog& log_;
  std::uint64_t seed_;
  FuzzUdp sock_;
  std::mutex mu_;
  std::unique_ptr<Mutator> mut_;
  std::function<std::string(const std::string&)> responder_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> pings_{0}, answered_{0}, mutated_{0};
  std::thread thread_;
};

// ---------------------------------------------------------------- fixture

class FuzzTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = fuzzSeed();
    start_ = Clock::now();
    pbx_ = std::make_unique<PbxPeer>(fwd_, seed_);
    startEdge();
    ASSERT_TRUE(edge_->started()) << edge_->log();
    std::vector<std::string> ours = {edge_->ports().udp.hostport(), edge_->ports().tcp.hostport()};
    for (auto& a : edge_->ports().internalUdp) ours.push_back(a.hostport());
    for (auto& a : edge_->ports().internalTcp) ours.push_back(a.hostport());
    fwd_.setOurs(ours);
    pbx_->setEdge(edge_->ports().internalUdp.at(0).hostport());
    std::cerr << "[ fuzz ] seed=0x" << std::hex << seed_ << std::dec << " scale=" << fuzzScale() << "\n";
  }

  void TearDown() override {
    if (HasFailure() && edge_) std::cerr << "---- sipedge log (tail) ----\n" << tail(edge_->log()) << "\n";
    edge_.reset();
    pbx_.reset();
    if (!dataDir_.empty() && !std::getenv("SIPEDGE_KEEP_TEST_DIRS")) {
      std::string cmd = "rm -rf '" + dataDir_ + "'";
      if (std::system(cmd.c_str()) != 0) { /* best effort */
      }
    }
  }

  void startEdge() {
    if (dataDir_.empty()) dataDir_ = makeTempDir();
    const char* lvl = std::getenv("SIPEDGE_FUZZ_LOG");
    std::string cfg = "[server]\nworkers = 2\ndata_dir = \"" + dataDir_ + "/data\"\nlog_level = \"" +
                      (lvl ? lvl : "info") +
                      "\"\n\n"
                      "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1\"\nport = 0\n\n"
                      "[[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1\"\nport = 0\n\n"
                      "[internal]\naddress = \"127.0.0.1\"\nport_base = 0\n\n"
                      "[pbx]\ntargets = [\"udp:" +
                      pbx_->addr().hostport() +
                      "\"]\n"
                      "ping_interval_ms = 300\nping_timeout_ms = 250\nping_failures = 3\n\n"
                      "[limits]\ntcp_idle_timeout_s = 30\n";
    edge_ = std::make_unique<SipedgeProcess>(cfg, 2, true);
  }

  bool overBudget() const { return Clock::now() - start_ > budget(); }

  // "" when sipedge answers an OPTIONS addressed to it with 200 within 1 s, over UDP and over TCP.
  std::string liveness() {
    if (!processRunning(edge_->pid())) return "sipedge is not running (crashed?)";
    {
      UdpPeer probe;
      std::string id = "live-u-" + std::to_string(++probes_);
      probe.sendTo(edge_->ports().udp, optionsTo(edge_->ports().udp, probe.addr(), "UDP", id));
      auto end = Clock::now() + kLiveness;
      bool ok = false;
      while (!ok && Clock::now() < end) {
        auto r = probe.recv(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()));
        if (!r) break;
        ok = statusCode(*r) == 200 && header(*r, "Call-ID") == id;
      }
      if (!ok) return "no 200 to OPTIONS over UDP within 1 s";
    }
    {
      TcpPeer probe;
      if (!probe.connect(edge_->ports().tcp)) return "TCP connect failed";
      std::string id = "live-t-" + std::to_string(++probes_);
      if (!probe.send(optionsTo(edge_->ports().tcp, probe.addr(), "TCP", id))) return "TCP send failed";
      auto r = probe.recvMessage(kLiveness);
      if (!r || statusCode(*r) != 200 || header(*r, "Call-ID") != id) return "no 200 to OPTIONS over TCP within 1 s";
    }
    return "";
  }

  // Final checks shared by the tests: still serving, clean SIGTERM, no sanitizer report.
  void finish() {
    EXPECT_EQ(liveness(), "");
    int st = edge_->stop();
    EXPECT_EQ(st, 0) << "sipedge did not exit cleanly on SIGTERM (status " << st << ", -1 = had to be killed)";
    std::string log = edge_->log();
    EXPECT_EQ(sanitizerReport(log), "");
    EXPECT_EQ(fwd_.violations(), 0u) << "forwarded requests breaking the invariants:\n" << fwd_.samples();
    EXPECT_EQ(fwd_.badReplies(), 0u) << "malformed responses sent by sipedge:\n" << fwd_.replySamples();
    if (fwd_.violations() || fwd_.badReplies()) std::cerr << "[ fuzz ] broken invariants by kind:\n" << fwd_.kinds();
    std::cerr << "[ fuzz ] forwarded requests checked: " << fwd_.requests() << ", responses checked " << fwd_.replies()
              << ", PBX pings answered " << pbx_->pings() << ", requests answered " << pbx_->answered() << " ("
              << pbx_->mutatedAnswers() << " mutated), "
              << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_).count() << " ms\n";
  }

  static std::string reproDir() {
    static std::string d = [] {
      std::string p = "/tmp/sipedge-fuzz-repro-" + std::to_string(::getpid());
      ::mkdir(p.c_str(), 0755);
      return p;
    }();
    return d;
  }

  static std::string save(const std::string& name, const std::string& bytes) {
    std::string p = reproDir() + "/" + name;
    std::ofstream f(p, std::ios::binary);
    f << bytes;
    return p;
  }

  std::uint64_t seed_ = 0;
  Clock::time_point start_;
  ForwardLog fwd_;
  std::unique_ptr<PbxPeer> pbx_;
  std::unique_ptr<SipedgeProcess> edge_;
  std::string dataDir_;
  std::size_t probes_ = 0;
};

// ---------------------------------------------------------------- UDP

struct Sent {
  std::uint64_t index;
  bool fromCore;
  std::string applied;
  std::string bytes;
};

class UdpSender {
 public:
  UdpSender(const std::string& ip, ForwardLog& fwd) : sock(ip), fwd_(fwd) {}
  // Reads everything queued: requests sipedge forwards to us (as a phone) are checked.
  void drain() {
    while (auto m = sock.recv(0ms)) take(*m);
  }
  // Sends an OPTIONS to sipedge and waits for its 200: everything sent before on this socket (same worker, in
  // order) has then been processed.
  bool barrier(const Addr& edge, std::chrono::milliseconds timeout) {
    std::string id = "barrier-" + sock.addr().hostport() + "-" + std::to_string(++n_);
    auto end = Clock::now() + timeout;
    // Asked twice (the second time half-way), so one lost datagram is not mistaken for a stall.
    for (int attempt = 0; attempt < 2; ++attempt) {
      sock.sendTo(edge, optionsTo(edge, sock.addr(), "UDP", id));
      auto until = attempt == 0 ? Clock::now() + timeout / 2 : end;
      while (Clock::now() < until) {
        auto m = sock.recv(std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()));
        if (!m) break;
        if (statusCode(*m) == 200 && header(*m, "Call-ID") == id) return true;
        take(*m);
      }
    }
    return false;
  }
  FuzzUdp sock;
  std::size_t replies = 0, forwardedToUs = 0;

 private:
  void take(const std::string& m) {
    if (looksLikeRequest(m)) {
      ++forwardedToUs;
      fwd_.request(m, "to phone " + sock.addr().hostport());
    } else {
      ++replies;
      fwd_.reply(m, "to phone " + sock.addr().hostport());
    }
  }
  ForwardLog& fwd_;
  std::size_t n_ = 0;
};

}  // namespace

TEST(FuzzMutator, IsDeterministicAndVaried) {
  FuzzTargets t{"127.0.0.1:5060", "127.0.0.1:40000", "127.0.0.2:5080"};
  Mutator a(t, 42), b(t, 42), c(t, 43);
  std::size_t same = 0, changed = 0;
  for (std::uint64_t i = 0; i < 500; ++i) {
    std::string x = a.make(i);
    EXPECT_TRUE(x == b.make(i)) << "message " << i << " differs between two mutators with the same seed";
    if (x == c.make(i)) ++same;
    if (std::find(a.seeds().begin(), a.seeds().end(), x) == a.seeds().end()) ++changed;
    EXPECT_LE(x.size(), 65000u);
  }
  EXPECT_LT(same, 50u);
  EXPECT_GT(changed, 400u);
  for (const auto& s : a.seeds()) EXPECT_NE(s.find("\r\n\r\n"), std::string::npos) << s;
  FuzzRng r(7);
  for (int i = 0; i < 20; ++i) EXPECT_GT(a.overlong(r).size(), 64u * 1024) << i;
}

TEST_F(FuzzTest, UdpMutatedMessagesKeepSipedgeServing) {
  const std::size_t total = scaled(5000);
  const std::size_t barrierEvery = 50, checkEvery = 500;
  const Addr edge = edge_->ports().udp;
  UdpSender access("127.0.0.1", fwd_), core("127.0.0.2", fwd_);
  FuzzTargets ta{edge.hostport(), access.sock.addr().hostport(), pbx_->addr().hostport()};
  // From the core zone, Request-URIs name the access sender, so sipedge forwards them there.
  FuzzTargets tc{edge.hostport(), core.sock.addr().hostport(), pbx_->addr().hostport()};
  tc.callee = access.sock.addr().hostport();
  Mutator fromAccess(ta, seed_), fromCore(tc, seed_ ^ 0xc07e);
  ASSERT_EQ(liveness(), "");
  std::vector<int> edgePorts = {edge.port},
                   ourPorts = {access.sock.addr().port, core.sock.addr().port, pbx_->addr().port};
  for (auto& a : edge_->ports().internalUdp) edgePorts.push_back(a.port);
  const long edgeDrops0 = udpDrops(edgePorts), ourDrops0 = udpDrops(ourPorts);

  std::vector<Sent> batch;
  std::size_t sent = 0, bytes = 0;
  std::string failure;
  for (std::uint64_t i = 0; i < total && failure.empty(); ++i) {
    bool fromCoreZone = fromAccess.rngFor(i, 7).chance(10);
    Sent s{i, fromCoreZone, "", ""};
    s.bytes = (fromCoreZone ? fromCore : fromAccess).make(i, &s.applied);
    (fromCoreZone ? core : access).sock.sendTo(edge, s.bytes);
    ++sent;
    bytes += s.bytes.size();
    batch.push_back(std::move(s));
    if ((i + 1) % 8 == 0) {
      access.drain();
      core.drain();
    }
    if ((i + 1) % barrierEvery == 0 || i + 1 == total) {
      if (!access.barrier(edge, 2000ms) || !core.barrier(edge, 2000ms))
        failure = processRunning(edge_->pid()) ? "stall: no answer to a barrier OPTIONS within 2 s" : "crash";
      else if ((i + 1) % checkEvery == 0)
        failure = liveness();
      if (failure.empty()) batch.clear();
      if (failure.empty() && overBudget()) failure = "time budget exceeded after " + std::to_string(sent) + " messages";
    }
  }

  if (!failure.empty()) {
    std::string report = "UDP fuzz failed: " + failure + " after message " + std::to_string(sent - 1) + " (seed 0x" +
                         [&] {
                           std::ostringstream o;
                           o << std::hex << seed_;
                           return o.str();
                         }() +
                         "). Suspects since the last good barrier:\n";
    for (auto& s : batch)
      report += "  #" + std::to_string(s.index) + (s.fromCore ? " core" : " access") + " [" + s.applied + "] -> " +
                save("udp-" + std::to_string(s.index) + ".bin", s.bytes) + "\n";
    // Isolate: replay each suspect alone against a fresh sipedge.
    std::string alone;
    if (!overBudget()) {
      edge_->stop();
      startEdge();
      if (edge_->started()) {
        UdpSender replayAccess("127.0.0.1", fwd_), replayCore("127.0.0.2", fwd_);
        for (auto& s : batch) {
          UdpSender& replay = s.fromCore ? replayCore : replayAccess;
          replay.sock.sendTo(edge_->ports().udp, s.bytes);
          if (!replay.barrier(edge_->ports().udp, 2000ms) || !processRunning(edge_->pid())) {
            alone = "message #" + std::to_string(s.index) + " [" + s.applied + "] alone " +
                    (processRunning(edge_->pid()) ? "stalls" : "crashes") + " sipedge; bytes:\n\"" +
                    escapeBytes(s.bytes, 8000) + "\"\n";
            break;
          }
        }
      }
    }
    ADD_FAILURE() << report << (alone.empty() ? "no single message reproduces it alone\n" : alone)
                  << "sanitizer: " << sanitizerReport(edge_->log());
    return;
  }
  std::cerr << "[ fuzz ] UDP: " << sent << " messages, " << bytes << " bytes, " << access.replies + core.replies
            << " replies, " << access.forwardedToUs + core.forwardedToUs << " requests forwarded to phones; "
            << "datagrams dropped by the kernel at sipedge's sockets " << udpDrops(edgePorts) - edgeDrops0
            << ", at ours " << udpDrops(ourPorts) - ourDrops0 << "\n";
  EXPECT_GE(sent, total);
  finish();
}

// Minimal reproducers of what the fuzz runs found: each input must be refused (or repaired), never passed on
// malformed. One case per finding, so a failure names exactly which ones are still open.
TEST_F(FuzzTest, FoundInputsAreNotPassedOnMalformed) {
  const Addr edge = edge_->ports().udp;
  UdpSender phone("127.0.0.1", fwd_);
  const std::string via = "Via: SIP/2.0/UDP " + phone.sock.addr().hostport() + ";branch=z9hG4bK";
  auto options = [&](const std::string& ruri, const std::string& id, const std::string& extra = "") {
    return "OPTIONS " + ruri + " SIP/2.0\r\n" + via + id + ";rport\r\nMax-Forwards: 70\r\n" + extra +
           "From: <sip:alice@example.com>;tag=f" + id + "\r\nTo: <sip:bob@example.com>\r\nCall-ID: " + id +
           "\r\nCSeq: 1 OPTIONS\r\n";
  };
  struct Case {
    std::string name, bytes;
    std::function<std::string(const std::string&)> pbxAnswer;  // what the PBX replies, when the case needs it
  };
  std::vector<Case> cases = {
      // A datagram cut before the empty line: sofia parses it and the copy sent on lacks the end of the header
      // block (over TCP to a PBX, the next message would be read as part of this one).
      {"truncated-after-content-length", options("sip:bob@example.com", "tr1") + "Content-Length: 0\r\n", {}},
      {"truncated-without-content-length", options("sip:bob@example.com", "tr2"), {}},
      {"truncated-mid-line", options("sip:bob@example.com", "tr3") + "Content-Length: 0", {}},
      // Control and 8-bit bytes in the Request-URI are not URI characters (RFC 3261 §25.1, RFC 3986 §2).
      {"ctl-in-request-uri", options(std::string("sip:bob@exa\x1cmple.com"), "cu1") + "Content-Length: 0\r\n\r\n", {}},
      {"backspace-in-request-uri",
       options(std::string("sip:b\x08ob@example.com"), "cu2") + "Content-Length: 0\r\n\r\n",
       {}},
      {"8bit-in-request-uri",
       options(std::string("sip:bob@example.\xa6\xdc"
                           "com"),
               "cu3") +
           "Content-Length: 0\r\n\r\n",
       {}},
      // A header name must be a token (RFC 3261 §25.1): "Max-Forwar$s" is none.
      {"non-token-header-name",
       options("sip:bob@example.com", "nt1", "X-Bad$Name: 1\r\n") + "Content-Length: 0\r\n\r\n",
       {}},
      // The trusted side can send garbage too: a response with another protocol's version, or cut short.
      {"relayed-http-status-line", options("sip:bob@example.com", "rs1") + "Content-Length: 0\r\n\r\n",
       [](const std::string& req) {
         std::string r = answer(req, 200, "OK");
         return "HTTP/1.1" + r.substr(7);
       }},
      {"relayed-truncated-response", options("sip:bob@example.com", "rs2") + "Content-Length: 0\r\n\r\n",
       [](const std::string& req) {
         std::string r = answer(req, 200, "OK");
         return r.substr(0, r.size() - 2);
       }},
  };
  // Positive control first: a clean request reaches the PBX and its answer reaches the phone, so a case that
  // passes below passed because sipedge refused it, not because nothing was looked at.
  {
    pbx_->setResponder([](const std::string& req) { return answer(req, 200, "OK"); });
    std::size_t req0 = fwd_.requests(), rep0 = fwd_.replies();
    phone.sock.sendTo(edge, options("sip:bob@example.com", "ok1") + "Content-Length: 0\r\n\r\n");
    ASSERT_TRUE(phone.barrier(edge, 2000ms));
    for (auto end = Clock::now() + 1s; fwd_.replies() == rep0 && Clock::now() < end;) {
      std::this_thread::sleep_for(10ms);
      phone.drain();
    }
    ASSERT_EQ(fwd_.requests(), req0 + 1) << "the control request did not reach the PBX";
    ASSERT_EQ(fwd_.replies(), rep0 + 1) << "the PBX's answer to the control request did not reach the phone";
    ASSERT_EQ(fwd_.violations() + fwd_.badReplies(), 0u) << fwd_.samples() << fwd_.replySamples();
  }
  std::vector<std::string> open;
  for (auto& c : cases) {
    pbx_->setResponder(c.pbxAnswer ? c.pbxAnswer : [](const std::string& req) { return answer(req, 200, "OK"); });
    std::size_t before = fwd_.violations() + fwd_.badReplies();
    phone.sock.sendTo(edge, c.bytes);
    ASSERT_TRUE(phone.barrier(edge, 2000ms)) << c.name << ": sipedge stopped answering";
    std::this_thread::sleep_for(50ms);  // the PBX thread checks, answers; the relayed answer reaches the phone
    phone.drain();
    if (fwd_.violations() + fwd_.badReplies() != before) open.push_back(c.name + ": \"" + escapeBytes(c.bytes) + "\"");
  }
  pbx_->setResponder(nullptr);
  std::string list;
  for (auto& o : open) list += "  " + o + "\n";
  EXPECT_TRUE(open.empty()) << open.size() << " of " << cases.size() << " found inputs still pass through malformed:\n"
                            << list << "details:\n"
                            << fwd_.samples() << fwd_.replySamples();
  EXPECT_EQ(liveness(), "");
  EXPECT_EQ(edge_->stop(), 0);
  EXPECT_EQ(sanitizerReport(edge_->log()), "");
}

// ---------------------------------------------------------------- TCP

namespace {

// One fuzz connection: a byte stream written in planned chunks, then closed in a planned way.
struct TcpJob {
  enum class Kind { Pipelined, Split, MidClose, Overlong, Slowloris, KeepAlives };
  enum class Close { Fin, Reset, Abandon };
  int fd = -1;
  Kind kind = Kind::Pipelined;
  Close close = Close::Fin;
  std::string bytes;
  std::vector<std::size_t> chunks;  // sizes, summing to bytes.size()
  std::size_t next = 0, off = 0;
  std::size_t messages = 0;
  std::uint64_t id = 0;
  std::size_t received = 0;
  std::string rx;  // what sipedge sent back (first MiB)
  bool peerClosed = false;
  Clock::time_point closingSince;
};

const char* kindName(TcpJob::Kind k) {
  switch (k) {
    case TcpJob::Kind::Pipelined:
      return "pipelined";
    case TcpJob::Kind::Split:
      return "split";
    case TcpJob::Kind::MidClose:
      return "mid-close";
    case TcpJob::Kind::Overlong:
      return "overlong";
    case TcpJob::Kind::Slowloris:
      return "slowloris";
    case TcpJob::Kind::KeepAlives:
      return "keep-alives";
  }
  return "?";
}

int connectTcp(const Addr& to) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(to.port));
  ::inet_pton(AF_INET, to.ip.c_str(), &sa.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

// Reads what is there; notes EOF or reset.
void drainTcp(TcpJob& j) {
  char buf[65536];
  while (j.fd >= 0 && !j.peerClosed) {
    ssize_t n = ::recv(j.fd, buf, sizeof buf, 0);
    if (n > 0) {
      j.received += static_cast<std::size_t>(n);
      if (j.rx.size() < (1u << 20)) j.rx.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) j.peerClosed = true;
    break;
  }
}

// Writes the job's next chunk, waiting at most `timeout` for room. False when sipedge stopped reading
// (closed the connection, which is fine, or stalled, which the caller tells apart).
bool writeChunk(TcpJob& j, std::chrono::milliseconds timeout) {
  std::size_t len = j.chunks[j.next];
  std::size_t done = 0;
  auto end = Clock::now() + timeout;
  while (done < len) {
    ssize_t n = ::send(j.fd, j.bytes.data() + j.off + done, len - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    drainTcp(j);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{j.fd, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(left.count()));
  }
  j.off += len;
  ++j.next;
  return true;
}

}  // namespace

TEST_F(FuzzTest, TcpMutatedStreamsKeepSipedgeServing) {
  const std::size_t total = scaled(1000);
  const std::size_t checkEvery = 100;
  const Addr edge = edge_->ports().tcp;
  // Replies and forwarded requests for the TCP senders come back over their own connections; the phone address
  // in the messages is only decoration.
  FuzzTargets t{edge.hostport(), "127.0.0.1:9", pbx_->addr().hostport(), "TCP"};
  Mutator mut(t, seed_ ^ 0x7c9, 1 << 20);
  ASSERT_EQ(liveness(), "");
  std::this_thread::sleep_for(100ms);
  const std::size_t fdsBefore = openFds(edge_->pid());

  // Connections that only ever send a few bytes of a request and then sit there for the whole test.
  std::vector<int> idlers;
  for (int k = 0; k < 48; ++k) {
    int fd = connectTcp(edge);
    ASSERT_GE(fd, 0);
    std::string part =
        std::string("INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9").substr(0, 1 + k);
    ASSERT_EQ(::send(fd, part.data(), part.size(), MSG_NOSIGNAL), static_cast<ssize_t>(part.size()));
    idlers.push_back(fd);
  }
  std::deque<TcpJob> active, closing, slow, recent;
  std::size_t messages = 0, connections = 0, nextCheck = checkEvery, bytes = 0;
  std::size_t byKind[6] = {};
  std::uint64_t jobId = 0, msgIndex = 0;
  std::string failure;
  FuzzRng sched = mut.rngFor(0, 9);

  auto newJob = [&]() -> bool {
    TcpJob j;
    j.id = jobId++;
    FuzzRng r = mut.rngFor(j.id, 3);
    std::size_t pick = r.below(100);
    j.kind = pick < 35   ? TcpJob::Kind::Split
             : pick < 60 ? TcpJob::Kind::Pipelined
             : pick < 75 ? TcpJob::Kind::MidClose
             : pick < 85 ? TcpJob::Kind::KeepAlives
             : pick < 93 ? TcpJob::Kind::Overlong
                         : TcpJob::Kind::Slowloris;
    if (j.kind == TcpJob::Kind::Slowloris && slow.size() >= 8) j.kind = TcpJob::Kind::Split;
    if (j.kind == TcpJob::Kind::Overlong) {
      j.bytes = mut.overlong(r);
      j.messages = 1;
    } else {
      std::size_t n = r.range(1, 16);
      for (std::size_t k = 0; k < n; ++k) {
        if (j.kind == TcpJob::Kind::KeepAlives) j.bytes += r.chance(50) ? "\r\n\r\n" : "\r\n";
        // Some valid messages in between, so a stream that still frames correctly reaches the PBX.
        std::string m = r.chance(20) ? r.pick(mut.seeds()) : mut.make(msgIndex);
        ++msgIndex;
        j.bytes += m;
      }
      j.messages = n;
      if (j.kind == TcpJob::Kind::MidClose || j.kind == TcpJob::Kind::Slowloris) {
        // Cut inside the last message.
        std::string last = mut.make(msgIndex++);
        j.bytes += last.substr(0, last.empty() ? 0 : r.range(1, last.size() - (last.size() > 1 ? 1 : 0)));
        ++j.messages;
      }
    }
    // Chunking: one write (pipelined), or random points, sometimes single bytes.
    if (j.kind == TcpJob::Kind::Pipelined || j.kind == TcpJob::Kind::Overlong) {
      j.chunks.push_back(j.bytes.size());
    } else {
      std::size_t left = j.bytes.size();
      while (left) {
        std::size_t c = r.chance(10) ? 1 : r.range(1, std::min<std::size_t>(left, r.chance(50) ? 64 : 2048));
        c = std::min(c, left);
        j.chunks.push_back(c);
        left -= c;
      }
    }
    j.close = j.kind == TcpJob::Kind::MidClose ? (r.chance(50) ? TcpJob::Close::Reset : TcpJob::Close::Abandon)
                                               : (r.chance(75) ? TcpJob::Close::Fin : TcpJob::Close::Reset);
    j.fd = connectTcp(edge);
    if (j.fd < 0) return false;
    ++connections;
    ++byKind[static_cast<int>(j.kind)];
    messages += j.messages;
    bytes += j.bytes.size();
    active.push_back(std::move(j));
    return true;
  };

  // Checks what sipedge wrote on the connection, then closes our end.
  std::size_t overlongAnswered = 0;
  auto release = [&](TcpJob& j) {
    drainTcp(j);
    if (j.kind == TcpJob::Kind::Overlong && j.rx.find("SIP/2.0 513 ") != std::string::npos) ++overlongAnswered;
    checkTcpStream(fwd_, j.rx, "tcp connection #" + std::to_string(j.id));
    ::close(j.fd);
    j.fd = -1;
  };

  auto remember = [&](TcpJob& j) {
    recent.push_back(j);
    recent.back().fd = -1;
    if (recent.size() > 12) recent.pop_front();
  };

  auto endJob = [&](TcpJob& j) {
    remember(j);
    if (j.kind == TcpJob::Kind::Slowloris) {
      slow.push_back(std::move(j));  // left open, partial message pending, until the end
      return;
    }
    if (j.close == TcpJob::Close::Reset) {
      linger l{1, 0};
      ::setsockopt(j.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      release(j);
    } else if (j.close == TcpJob::Close::Abandon) {
      release(j);
    } else {
      // Half-close: sipedge must notice and close its side (bounded, checked below).
      ::shutdown(j.fd, SHUT_WR);
      j.closingSince = Clock::now();
      closing.push_back(std::move(j));
    }
  };

  // Connections that sent FIN (or an overlong message) must be closed by sipedge within 3 s.
  auto reap = [&](bool all) {
    for (auto it = closing.begin(); it != closing.end();) {
      drainTcp(*it);
      if (it->peerClosed) {
        release(*it);
        it = closing.erase(it);
      } else if (Clock::now() - it->closingSince > 3s) {
        std::string f = "connection #" + std::to_string(it->id) + " (" + kindName(it->kind) +
                        ") still open 3 s after our FIN -> " +
                        save("tcp-" + std::to_string(it->id) + ".bin", it->bytes);
        if (failure.empty()) failure = f;
        release(*it);
        it = closing.erase(it);
      } else {
        ++it;
      }
    }
    if (all) {
      auto end = Clock::now() + 4s;
      while (!closing.empty() && Clock::now() < end) {
        std::this_thread::sleep_for(10ms);
        for (auto it = closing.begin(); it != closing.end();) {
          drainTcp(*it);
          if (it->peerClosed || Clock::now() - it->closingSince > 3s) {
            if (!it->peerClosed && failure.empty())
              failure = "connection #" + std::to_string(it->id) + " (" + kindName(it->kind) +
                        ") still open 3 s after our FIN -> " +
                        save("tcp-" + std::to_string(it->id) + ".bin", it->bytes);
            release(*it);
            it = closing.erase(it);
          } else {
            ++it;
          }
        }
      }
    }
  };

  while (failure.empty() && (messages < total || !active.empty())) {
    while (active.size() < 4 && messages < total)
      if (!newJob()) {
        failure = "cannot connect to sipedge over TCP";
        break;
      }
    if (active.empty()) break;
    // Interleave: one chunk of a random active connection.
    std::size_t k = sched.below(active.size());
    TcpJob& j = active[k];
    bool ok = writeChunk(j, 2000ms);
    drainTcp(j);
    if (!ok) {
      // sipedge closed on us (an answer to bad framing: fine) or stopped reading (a stall).
      if (!j.peerClosed) {
        pollfd p{j.fd, POLLIN, 0};
        ::poll(&p, 1, 1000);
        drainTcp(j);
      }
      if (!j.peerClosed) {
        failure = "stall: sipedge neither reads nor closes connection #" + std::to_string(j.id) + " (" +
                  kindName(j.kind) + ") -> " + save("tcp-" + std::to_string(j.id) + ".bin", j.bytes);
      }
      remember(j);
      release(j);
      active.erase(active.begin() + static_cast<std::ptrdiff_t>(k));
      continue;
    }
    if (j.kind == TcpJob::Kind::Split && sched.chance(2)) std::this_thread::sleep_for(1ms);
    if (j.next == j.chunks.size()) {
      TcpJob done = std::move(j);
      active.erase(active.begin() + static_cast<std::ptrdiff_t>(k));
      if (done.kind == TcpJob::Kind::Overlong) {  // sipedge must refuse and close; we only half-close
        done.close = TcpJob::Close::Fin;
      }
      endJob(done);
    }
    reap(false);
    if (failure.empty() && messages >= nextCheck) {
      nextCheck += checkEvery;
      failure = liveness();
      if (failure.empty() && overBudget())
        failure = "time budget exceeded after " + std::to_string(messages) + " messages";
    }
  }
  if (failure.empty()) failure = liveness();  // with the slowloris connections still open
  reap(true);
  for (auto& j : active) release(j);
  for (auto& j : slow) release(j);
  for (int fd : idlers) ::close(fd);

  if (!failure.empty()) {
    std::string report = "TCP fuzz failed: " + failure + "\nRecent connections:\n";
    for (auto& j : recent)
      report += "  #" + std::to_string(j.id) + " " + kindName(j.kind) + ", " + std::to_string(j.bytes.size()) +
                " bytes in " + std::to_string(j.chunks.size()) + " writes -> " +
                save("tcp-" + std::to_string(j.id) + ".bin", j.bytes) + "\n";
    ADD_FAILURE() << report << "sanitizer: " << sanitizerReport(edge_->log());
    return;
  }
  // Every connection is gone: sipedge's descriptors are back where they were (no leaked connection).
  std::size_t fdsAfter = 0;
  for (auto end = Clock::now() + 3s; Clock::now() < end; std::this_thread::sleep_for(50ms))
    if ((fdsAfter = openFds(edge_->pid())) <= fdsBefore) break;
  EXPECT_LE(fdsAfter, fdsBefore) << "sipedge holds more descriptors after all fuzz connections closed";
  std::cerr << "[ fuzz ] TCP: " << messages << " messages, " << bytes << " bytes over " << connections
            << " connections (";
  for (int k = 0; k < 6; ++k)
    std::cerr << (k ? ", " : "") << kindName(static_cast<TcpJob::Kind>(k)) << " " << byKind[k];
  std::cerr << "), " << overlongAnswered << " of " << byKind[static_cast<int>(TcpJob::Kind::Overlong)]
            << " overlong messages answered 513 before the close, fds " << fdsBefore << " -> " << fdsAfter << "\n";
  EXPECT_GE(messages, total);
  finish();
}
