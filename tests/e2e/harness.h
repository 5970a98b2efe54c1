// Test harness: runs the real sipedge binary on 127.0.0.1 with a generated config, and plays SIP peers on real
// sockets. Every process started is stopped by PID; every wait is bounded.
#pragma once

#include <netinet/in.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sipedge::test {

using namespace std::chrono_literals;

struct Addr {
  std::string ip;
  int port = 0;
  std::string hostport() const { return ip + ":" + std::to_string(port); }
};

// A bound UDP socket on `ip` (port 0 = kernel picks).
class UdpPeer {
 public:
  explicit UdpPeer(const std::string& ip = "127.0.0.1", int port = 0);
  ~UdpPeer();
  UdpPeer(const UdpPeer&) = delete;
  UdpPeer& operator=(const UdpPeer&) = delete;
  Addr addr() const { return local_; }
  void sendTo(const Addr& to, const std::string& data);
  // Next datagram within `timeout`, or nullopt. `from` receives the sender.
  std::optional<std::string> recv(std::chrono::milliseconds timeout = 2000ms, Addr* from = nullptr);
  // Next datagram that is not an OPTIONS ping (PBX role: sipedge pings us).
  std::optional<std::string> recvSkippingPings(std::chrono::milliseconds timeout = 2000ms, Addr* from = nullptr,
                                               bool answerPings = true);

 private:
  int fd_ = -1;
  Addr local_;
};

class TcpPeer {
 public:
  TcpPeer() = default;
  ~TcpPeer();
  TcpPeer(const TcpPeer&) = delete;
  TcpPeer& operator=(const TcpPeer&) = delete;
  bool connect(const Addr& to, const std::string& fromIp = "127.0.0.1");
  void adopt(int fd);  // takes ownership of a connected socket
  Addr addr() const { return local_; }
  bool send(const std::string& data);
  // Next complete SIP message (framed by Content-Length) or raw bytes for keep-alives.
  std::optional<std::string> recvMessage(std::chrono::milliseconds timeout = 2000ms);
  std::optional<std::string> recvRaw(std::size_t n, std::chrono::milliseconds timeout = 2000ms);
  bool closedByPeer(std::chrono::milliseconds timeout = 2000ms);

 private:
  int fd_ = -1;
  Addr local_;
  std::string buf_;
};

// A TCP listener for the PBX role over TCP.
class TcpServer {
 public:
  explicit TcpServer(const std::string& ip = "127.0.0.2");
  ~TcpServer();
  Addr addr() const { return local_; }
  // Accepts one connection within timeout; the returned peer owns it.
  std::unique_ptr<TcpPeer> accept(std::chrono::milliseconds timeout = 2000ms);

 private:
  int fd_ = -1;
  Addr local_;
};

struct Ports {
  Addr udp, tcp;                  // first public UDP / TCP listener
  std::vector<Addr> internalUdp;  // per worker
  std::vector<Addr> internalTcp;
};

class SipedgeProcess {
 public:
  // `configBody` is TOML appended after a generated [server] and listen section unless `fullConfig`.
  explicit SipedgeProcess(const std::string& extraToml, int workers = 1, bool fullConfig = false);
  ~SipedgeProcess();
  bool started() const { return ports_.has_value(); }
  const Ports& ports() const { return *ports_; }
  pid_t pid() const { return pid_; }
  bool alive() const;
  // SIGTERM, then wait (bounded); returns the exit status or -1.
  int stop(std::chrono::milliseconds grace = 5000ms);
  std::string log() const;
  const std::string& dir() const { return dir_; }

 private:
  pid_t pid_ = -1;
  std::string dir_;
  std::optional<Ports> ports_;
};

// The phone address sealed in the first `dst=` parameter of `text`, opened with the process's route key
// ("udp:127.0.0.1:5062"), or "" when there is none / "(bad token)".
std::string dstOf(const SipedgeProcess& p, const std::string& text);
std::string dstOf(const std::string& keyPath, const std::string& text);

// Runs the sipedge binary with arguments, returns exit code and combined output.
int runSipedge(const std::vector<std::string>& args, std::string& output);

std::string sipedgeBinary();
std::string makeTempDir();

// The [pbx] section for `targets` ("udp:127.0.0.2:5060", ...) with the given health-check timing, then `extra`.
std::string pbxToml(const std::vector<std::string>& targets, int intervalMs = 100, int timeoutMs = 80,
                    const std::string& extra = "");

// A request from a phone at `from`: Via (branch z9hG4bK<call-id><cseq><method>;rport), From alice (tag fromTag),
// To bob (toTag when set), Contact <sip:contactUser@sent-by>, `extra` header lines, no body.
struct Req {
  std::string method = "INVITE";
  std::string ruri = "sip:bob@example.com";
  std::string callId = "c1";
  int cseq = 1;
  std::string transport = "UDP";
  std::string fromTag = "a1";
  std::string toTag;
  std::string extra;
  std::string contactUser = "alice";
};
// `viaHost` replaces the Via's and Contact's sent-by (default: from.hostport()).
std::string build(const Req& r, const Addr& from, const std::string& viaHost = "");

// Message helpers.
std::string header(const std::string& msg, const std::string& name);  // first value, "" if absent
std::vector<std::string> headers(const std::string& msg, const std::string& name);
std::string firstLine(const std::string& msg);
int statusCode(const std::string& msg);
// A response built from a request: copies Via/From/To/Call-ID/CSeq (and Record-Route for dialogs).
std::string respond(const std::string& req, int code, const std::string& phrase, const std::string& toTag = "uas1",
                    const std::string& extra = "");
// The URI inside "<...>" of a header value (the value itself when there are no brackets).
std::string uriOf(const std::string& v);
// host:port of a sip URI with a numeric host and a port.
Addr hostPortOf(const std::string& uri);
// Removes the first header line `name` and returns the message.
std::string removeFirst(const std::string& msg, const std::string& name);

}  // namespace sipedge::test
