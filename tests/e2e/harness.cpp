#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "proxy/route_token.h"

namespace sipedge::test {

namespace {

sockaddr_in makeSa(const std::string& ip, int port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr) != 1) throw std::runtime_error("bad ip " + ip);
  return sa;
}

Addr localOf(int fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  char buf[64];
  ::inet_ntop(AF_INET, &sa.sin_addr, buf, sizeof buf);
  return {buf, ntohs(sa.sin_port)};
}

bool waitReadable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string sipedgeBinary() {
  if (const char* b = std::getenv("SIPEDGE_BINARY")) return b;
  return SIPEDGE_BINARY_PATH;
}

std::string makeTempDir() {
  char tmpl[] = "/tmp/sipedge-test-XXXXXX";
  char* d = ::mkdtemp(tmpl);
  if (!d) throw std::runtime_error("mkdtemp");
  return d;
}

// ---------------------------------------------------------------- UDP

UdpPeer::UdpPeer(const std::string& ip, int port) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
  auto sa = makeSa(ip, port);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) throw std::runtime_error("bind udp " + ip);
  local_ = localOf(fd_);
}

UdpPeer::~UdpPeer() {
  if (fd_ >= 0) ::close(fd_);
}

void UdpPeer::sendTo(const Addr& to, const std::string& data) {
  auto sa = makeSa(to.ip, to.port);
  ::sendto(fd_, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
}

std::optional<std::string> UdpPeer::recv(std::chrono::milliseconds timeout, Addr* from) {
  if (!waitReadable(fd_, timeout)) return std::nullopt;
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

std::optional<std::string> UdpPeer::recvSkippingPings(std::chrono::milliseconds timeout, Addr* from, bool answerPings) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    Addr f;
    auto m = recv(left, &f);
    if (!m) return std::nullopt;
    if (m->rfind("OPTIONS ", 0) == 0 && header(*m, "Call-ID").rfind("sehc-", 0) == 0) {
      if (answerPings) sendTo(f, respond(*m, 200, "OK"));
      continue;
    }
    if (from) *from = f;
    return m;
  }
}

// ---------------------------------------------------------------- TCP

TcpPeer::~TcpPeer() {
  if (fd_ >= 0) ::close(fd_);
}

bool TcpPeer::connect(const Addr& to, const std::string& fromIp) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  auto local = makeSa(fromIp, 0);
  ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local);
  auto sa = makeSa(to.ip, to.port);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return false;
  local_ = localOf(fd_);
  return true;
}

void TcpPeer::adopt(int fd) {
  fd_ = fd;
  local_ = localOf(fd);
}

bool TcpPeer::send(const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

std::optional<std::string> TcpPeer::recvRaw(std::size_t n, std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (buf_.size() < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !waitReadable(fd_, left)) return std::nullopt;
    char tmp[65536];
    ssize_t r = ::recv(fd_, tmp, sizeof tmp, 0);
    if (r <= 0) return std::nullopt;
    buf_.append(tmp, static_cast<std::size_t>(r));
  }
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n);
  return out;
}

std::optional<std::string> TcpPeer::recvMessage(std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (true) {
    while (buf_.rfind("\r\n", 0) == 0) buf_.erase(0, 2);
    auto he = buf_.find("\r\n\r\n");
    if (he != std::string::npos) {
      std::string head = buf_.substr(0, he + 4);
      std::size_t cl = 0;
      std::string v = header(head, "Content-Length");
      if (v.empty()) v = header(head, "l");
      if (!v.empty()) cl = static_cast<std::size_t>(std::stoul(v));
      if (buf_.size() >= he + 4 + cl) {
        std::string out = buf_.substr(0, he + 4 + cl);
        buf_.erase(0, he + 4 + cl);
        return out;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !waitReadable(fd_, left)) return std::nullopt;
    char tmp[65536];
    ssize_t r = ::recv(fd_, tmp, sizeof tmp, 0);
    if (r <= 0) return std::nullopt;
    buf_.append(tmp, static_cast<std::size_t>(r));
  }
}

bool TcpPeer::closedByPeer(std::chrono::milliseconds timeout) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !waitReadable(fd_, left)) return false;
    char tmp[4096];
    ssize_t r = ::recv(fd_, tmp, sizeof tmp, 0);
    if (r <= 0) return true;
  }
}

TcpServer::TcpServer(const std::string& ip) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  auto sa = makeSa(ip, 0);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) throw std::runtime_error("bind tcp");
  ::listen(fd_, 16);
  local_ = localOf(fd_);
}

TcpServer::~TcpServer() {
  if (fd_ >= 0) ::close(fd_);
}

std::unique_ptr<TcpPeer> TcpServer::accept(std::chrono::milliseconds timeout) {
  if (!waitReadable(fd_, timeout)) return nullptr;
  int c = ::accept(fd_, nullptr, nullptr);
  if (c < 0) return nullptr;
  auto p = std::make_unique<TcpPeer>();
  p->adopt(c);
  return p;
}

// ---------------------------------------------------------------- process

SipedgeProcess::SipedgeProcess(const std::string& extraToml, int workers, bool fullConfig) {
  dir_ = makeTempDir();
  std::string cfgPath = dir_ + "/sipedge.toml";
  {
    std::ofstream f(cfgPath);
    if (fullConfig) {
      f << extraToml;
    } else {
      f << "[server]\nworkers = " << workers << "\ndata_dir = \"" << dir_ << "/data\"\nlog_level = \"debug\"\n\n"
        << "[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1\"\nport = 0\n\n"
        << "[[listen]]\ntransport = \"tcp\"\naddress = \"127.0.0.1\"\nport = 0\n\n"
        << "[internal]\naddress = \"127.0.0.1\"\nport_base = 0\n\n"
        << extraToml;
    }
  }
  std::string ready = dir_ + "/ready";
  std::string logPath = dir_ + "/sipedge.log";
  pid_ = ::fork();
  if (pid_ == 0) {
    int fd = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    std::string bin = sipedgeBinary();
    ::execl(bin.c_str(), bin.c_str(), "--config", cfgPath.c_str(), "--ready-file", ready.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto end = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < end) {
    std::ifstream f(ready);
    if (f) {
      Ports p;
      std::string line;
      while (std::getline(f, line)) {
        std::istringstream ls(line);
        std::string kind, a, b, c, d;
        ls >> kind;
        if (kind == "listen") {
          ls >> a >> b >> c;
          Addr ad{b, std::stoi(c)};
          if (a == "udp" && p.udp.port == 0) p.udp = ad;
          if (a == "tcp" && p.tcp.port == 0) p.tcp = ad;
        } else if (kind == "internal") {
          ls >> a >> b >> c >> d;
          (b == "udp" ? p.internalUdp : p.internalTcp).push_back({c, std::stoi(d)});
        }
      }
      ports_ = p;
      return;
    }
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(20ms);
  }
}

SipedgeProcess::~SipedgeProcess() {
  stop();
  if (!std::getenv("SIPEDGE_KEEP_TEST_DIRS")) {
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (std::system(cmd.c_str()) != 0) { /* best effort */
    }
  }
}

bool SipedgeProcess::alive() const {
  if (pid_ <= 0) return false;
  // kill(pid, 0) also succeeds for a zombie: read the state instead.
  std::ifstream f("/proc/" + std::to_string(pid_) + "/stat");
  std::string stat;
  std::getline(f, stat);
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

int SipedgeProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  auto end = std::chrono::steady_clock::now() + grace;
  int st = 0;
  while (std::chrono::steady_clock::now() < end) {
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
  return -1;
}

std::string SipedgeProcess::log() const {
  std::ifstream f(dir_ + "/sipedge.log");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string dstOf(const SipedgeProcess& p, const std::string& text) {
  return dstOf(p.dir() + "/data/route.key", text);
}

std::string dstOf(const std::string& keyPath, const std::string& text) {
  auto pos = text.find("dst=");
  if (pos == std::string::npos) return "";
  auto end = text.find_first_of(";>", pos);
  if (sodium_init() < 0) return "(no sodium)";
  auto key = proxy::RouteToken::loadOrCreateKey(keyPath);
  proxy::RouteToken t(key);
  auto e = t.open(text.substr(pos + 4, end == std::string::npos ? std::string::npos : end - pos - 4));
  return e ? e->text() : "(bad token)";
}

int runSipedge(const std::vector<std::string>& args, std::string& output) {
  std::string cmd = "'" + sipedgeBinary() + "'";
  for (auto& a : args) cmd += " '" + a + "'";
  cmd += " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  output.clear();
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) output.append(buf, n);
  int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// ---------------------------------------------------------------- messages

std::vector<std::string> headers(const std::string& msg, const std::string& name) {
  std::vector<std::string> out;
  std::string want = lower(name);
  std::size_t pos = msg.find("\r\n");
  while (pos != std::string::npos && pos + 2 < msg.size()) {
    std::size_t s = pos + 2;
    std::size_t e = msg.find("\r\n", s);
    if (e == std::string::npos || e == s) break;
    std::string line = msg.substr(s, e - s);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string n = lower(line.substr(0, colon));
      while (!n.empty() && n.back() == ' ') n.pop_back();
      if (n == want) {
        std::string v = line.substr(colon + 1);
        while (!v.empty() && v.front() == ' ') v.erase(0, 1);
        out.push_back(v);
      }
    }
    pos = e;
  }
  return out;
}

std::string pbxToml(const std::vector<std::string>& targets, int intervalMs, int timeoutMs, const std::string& extra) {
  std::string t;
  for (auto& x : targets) t += (t.empty() ? "" : ", ") + std::string("\"") + x + "\"";
  return "[pbx]\ntargets = [" + t + "]\nping_interval_ms = " + std::to_string(intervalMs) +
         "\nping_timeout_ms = " + std::to_string(timeoutMs) + "\nping_failures = 2\n" + extra;
}

std::string build(const Req& r, const Addr& from, const std::string& viaHost) {
  std::string sentBy = viaHost.empty() ? from.hostport() : viaHost;
  std::string m = r.method + " " + r.ruri + " SIP/2.0\r\n";
  m += "Via: SIP/2.0/" + r.transport + " " + sentBy + ";branch=z9hG4bK" + r.callId + std::to_string(r.cseq) + r.method +
       ";rport\r\n";
  m += "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=" + r.fromTag + "\r\n";
  m += "To: <sip:bob@example.com>" + (r.toTag.empty() ? "" : ";tag=" + r.toTag) + "\r\n";
  m += "Call-ID: " + r.callId + "\r\nCSeq: " + std::to_string(r.cseq) + " " + r.method + "\r\n";
  m += "Contact: <sip:" + r.contactUser + "@" + sentBy + ">\r\n" + r.extra + "Content-Length: 0\r\n\r\n";
  return m;
}

std::string header(const std::string& msg, const std::string& name) {
  auto h = headers(msg, name);
  return h.empty() ? "" : h.front();
}

std::string firstLine(const std::string& msg) {
  return msg.substr(0, msg.find("\r\n"));
}

int statusCode(const std::string& msg) {
  if (msg.rfind("SIP/2.0 ", 0) != 0) return 0;
  return std::atoi(msg.c_str() + 8);
}

std::string respond(const std::string& req, int code, const std::string& phrase, const std::string& toTag,
                    const std::string& extra) {
  std::string out = "SIP/2.0 " + std::to_string(code) + " " + phrase + "\r\n";
  for (auto& v : headers(req, "Via")) out += "Via: " + v + "\r\n";
  if (code > 100 && code < 300)
    for (auto& v : headers(req, "Record-Route")) out += "Record-Route: " + v + "\r\n";
  out += "From: " + header(req, "From") + "\r\n";
  std::string to = header(req, "To");
  if (to.find("tag=") == std::string::npos && code > 100) to += ";tag=" + toTag;
  out += "To: " + to + "\r\n";
  out += "Call-ID: " + header(req, "Call-ID") + "\r\n";
  out += "CSeq: " + header(req, "CSeq") + "\r\n";
  out += extra;
  out += "Content-Length: 0\r\n\r\n";
  return out;
}

std::string uriOf(const std::string& v) {
  auto a = v.find('<'), b = v.find('>');
  return a == std::string::npos ? v : v.substr(a + 1, b - a - 1);
}

Addr hostPortOf(const std::string& uri) {
  auto s = uri.find(':') + 1;
  auto at = uri.find('@');
  if (at != std::string::npos && at < uri.find(';')) s = at + 1;
  auto e = uri.find_first_of(";>", s);
  std::string hp = uri.substr(s, e == std::string::npos ? std::string::npos : e - s);
  auto c = hp.rfind(':');
  return {hp.substr(0, c), std::stoi(hp.substr(c + 1))};
}

std::string removeFirst(const std::string& msg, const std::string& name) {
  std::string want = lower(name) + ":";
  std::size_t pos = msg.find("\r\n");
  while (pos != std::string::npos) {
    std::size_t s = pos + 2;
    std::size_t e = msg.find("\r\n", s);
    if (e == std::string::npos || e == s) break;
    if (lower(msg.substr(s, want.size())) == want) return msg.substr(0, s) + msg.substr(e + 2);
    pos = e;
  }
  return msg;
}

}  // namespace sipedge::test
