// A worker: one thread, one io_context, its own sockets and pipeline. Shares nothing mutable with other
// workers; only plain bytes are posted across (a response that belongs to another worker's transaction).
#pragma once

#include "context.h"
#include "dialog_table.h"
#include "framer.h"
#include "pipeline.h"

// clang-format off
#include <utility>  // boost 1.74 asio uses std::exchange without including it
#include <boost/asio.hpp>
// clang-format on

#include <sys/socket.h>

#include <array>
#include <deque>
#include <memory>
#include <thread>
#include <unordered_map>

namespace sipedge::proxy {

class Worker;
class HealthChecker;

// One TCP connection, owned by the worker that accepted or opened it; its life is held by its own async chain.
class TcpConn : public std::enable_shared_from_this<TcpConn> {
 public:
  TcpConn(Worker& w, boost::asio::ip::tcp::socket s, Endpoint remote, SocketId via);
  void start();                                         // accepted: read until closed
  void connect(const boost::asio::ip::tcp::endpoint&);  // outbound: queue writes until connected
  void send(std::string data);                          // takes the bytes; writes in order
  void close();
  const Endpoint& remote() const { return remote_; }
  SocketId via() const { return via_; }

 private:
  void readMore();
  void drain();
  void writeMore();
  void armIdle();

  Worker& w_;
  boost::asio::ip::tcp::socket sock_;
  Endpoint remote_;
  SocketId via_;
  StreamFramer framer_;
  std::string in_;
  std::array<char, 16384> chunk_;
  std::deque<std::string> out_;
  bool writing_ = false, connected_ = false, closed_ = false;
  boost::asio::steady_timer idle_;
};

class Worker {
 public:
  Worker(unsigned id, std::shared_ptr<const conf::Config> cfg, const ZoneTable& zones, PbxHealth& pbx,
         const RouteToken& tokens);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Binds every socket. Worker 0 resolves port 0 in `publics` to real ports; the others reuse them
  // (SO_REUSEPORT). Throws std::system_error with the address on failure (start-up only).
  void bind(std::vector<Endpoint>& publics);
  Endpoint internalUdp() const { return env_.local.internalUdp; }
  Endpoint internalTcp() const { return env_.local.internalTcp; }
  void setEveryInternal(std::vector<Endpoint> all) { env_.local.everyInternal = std::move(all); }
  void setPeers(const std::vector<std::unique_ptr<Worker>>* peers) { peers_ = peers; }
  // Borrows the worker's capture state (before start()); the tap then feeds its queue.
  void setCapture(capture::WorkerCapture* c);

  void start();  // runs the io_context on a new thread
  void stop();   // thread-safe
  void join();

  const Counters& counters() const { return env_.counters; }
  boost::asio::io_context& ioc() { return ioc_; }
  const WorkerEnv& env() const { return env_; }

  // Runs one complete message from any transport through the pipeline and sends what it decided. `conn` is the
  // TCP connection it came on, if any; `handedOver`: another worker received it (and counted it).
  void onMessage(const char* data, std::size_t len, const Endpoint& src, SocketId in, TcpConn* conn,
                 bool handedOver = false);
  // Sends bytes from socket `out` to `dst`; over TCP on the connection to `dst`, opened if needed.
  void send(SocketId out, const Endpoint& dst, std::string_view data);
  void connClosed(TcpConn* c, bool idle);
  void countFramingError() { env_.counters.tcpFramingErrors.inc(); }
  void countKeepalive() { env_.counters.keepalives.inc(); }
  const conf::Config& cfg() const { return *env_.cfg; }

 private:
  struct UdpSock {
    explicit UdpSock(boost::asio::io_context& io) : sock(io) {}
    boost::asio::ip::udp::socket sock;
    SocketId id;
    Endpoint local;
  };
  struct TcpListener {
    explicit TcpListener(boost::asio::io_context& io) : acc(io) {}
    boost::asio::ip::tcp::acceptor acc;
    SocketId id;
  };

  void bindUdp(UdpSock& u, Endpoint& ep, bool reusePort);
  void bindTcp(TcpListener& l, Endpoint& ep, bool reusePort);
  void readUdp(UdpSock& u);
  void acceptTcp(TcpListener& l);
  void handOver(unsigned owner, const char* data, std::size_t len, const Endpoint& src, SocketId in);
  void run();
  void sendBack(const Endpoint& src, SocketId in, TcpConn* conn, std::string data);
  UdpSock* udpFor(SocketId s);
  void flushUdp();

  // While a receive batch is handled, UDP output is queued and leaves in one sendmmsg per socket.
  struct OutDatagram {
    int fd = -1;
    sockaddr_storage to{};
    socklen_t toLen = 0;
    std::string data;
  };
  bool batching_ = false;
  std::vector<OutDatagram> outbox_;
  std::size_t outCount_ = 0;

  unsigned id_;
  boost::asio::io_context ioc_{1};
  WorkerEnv env_;
  Pipeline pipeline_;
  DialogTable dialogs_;
  std::vector<std::unique_ptr<UdpSock>> publicUdp_;  // index = listener index (null for TCP listeners)
  std::vector<std::unique_ptr<TcpListener>> publicTcp_;
  std::unique_ptr<UdpSock> internalUdp_;
  std::unique_ptr<TcpListener> internalTcp_;
  std::unordered_map<Endpoint, std::shared_ptr<TcpConn>, EndpointHash> conns_;
  const std::vector<std::unique_ptr<Worker>>* peers_ = nullptr;
  std::unique_ptr<HealthChecker> health_;
  std::unique_ptr<boost::asio::steady_timer> housekeepingTimer_;
  void housekeeping();
  std::thread thread_;
  static constexpr std::size_t kBatch = 16;
  std::unique_ptr<std::array<char, 65536>[]> rx_;

  friend class HealthChecker;
};

}  // namespace sipedge::proxy
