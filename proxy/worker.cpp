#include "worker.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cstring>
#include <ctime>

#include "capture/worker_capture.h"
#include "health.h"
#include "log.h"
#include "sip_util.h"

namespace sipedge::proxy {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;

// ---------------------------------------------------------------- TcpConn

TcpConn::TcpConn(Worker& w, tcp::socket s, Endpoint remote, SocketId via)
    : w_(w),
      sock_(std::move(s)),
      remote_(remote),
      via_(via),
      framer_(w.cfg().maxMessageBytes, w.cfg().maxHeaderBytes),
      idle_(w.ioc()) {}

void TcpConn::start() {
  connected_ = true;
  boost::system::error_code ec;
  sock_.set_option(tcp::no_delay(true), ec);
  armIdle();
  readMore();
  writeMore();
}

void TcpConn::connect(const tcp::endpoint& dst) {
  armIdle();
  sock_.async_connect(dst, [self = shared_from_this()](const boost::system::error_code& ec) {
    if (self->closed_) return;
    if (ec) {
      SE_DEBUG("tcp connect to %s failed: %s", self->remote_.text().c_str(), ec.message().c_str());
      self->close();
      return;
    }
    self->start();
  });
}

void TcpConn::armIdle() {
  idle_.expires_after(w_.cfg().tcpIdleTimeout);
  idle_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->closed_) return;
    if (asio::steady_timer::clock_type::now() < self->idle_.expiry()) return;  // re-armed meanwhile
    self->w_.connClosed(self.get(), true);
    self->close();
  });
}

void TcpConn::readMore() {
  sock_.async_read_some(asio::buffer(chunk_),
                        [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                          if (self->closed_) return;
                          if (ec) {
                            self->close();
                            return;
                          }
                          self->in_.append(self->chunk_.data(), n);
                          self->idle_.expires_after(self->w_.cfg().tcpIdleTimeout);
                          self->drain();
                          if (!self->closed_) self->readMore();
                        });
}

void TcpConn::drain() {
  std::size_t off = 0;
  while (!closed_ && off < in_.size()) {
    std::size_t len = 0;
    bool pong = false;
    auto r = framer_.next(std::string_view(in_).substr(off), len, pong);
    if (r == StreamFramer::Result::NeedMore) break;
    if (r == StreamFramer::Result::KeepAlive) {
      off += len;
      if (pong) {
        w_.countKeepalive();
        send("\r\n");
      }
      continue;
    }
    if (r != StreamFramer::Result::Message) {
      // The stream cannot be resynchronised: answer what we can, then close.
      w_.countFramingError();
      std::string reply =
          makeRawResponse(std::string_view(in_).substr(off), r == StreamFramer::Result::TooLarge ? 513 : 400,
                          r == StreamFramer::Result::TooLarge ? "Message Too Large" : "Bad Content-Length");
      if (!reply.empty()) send(std::move(reply));
      in_.clear();
      off = 0;
      auto self = shared_from_this();
      asio::post(sock_.get_executor(), [self] { self->close(); });
      closed_ = true;  // stop reading; the queued reply is flushed by writeMore before the socket closes
      return;
    }
    w_.onMessage(in_.data() + off, len, remote_, via_, this);
    off += len;
  }
  in_.erase(0, off);
}

void TcpConn::send(std::string data) {
  out_.push_back(std::move(data));
  if (connected_) writeMore();
}

void TcpConn::writeMore() {
  if (writing_ || out_.empty() || !sock_.is_open()) return;
  writing_ = true;
  asio::async_write(sock_, asio::buffer(out_.front()),
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      self->writing_ = false;
                      if (ec) {
                        self->close();
                        return;
                      }
                      self->out_.pop_front();
                      self->writeMore();
                    });
}

void TcpConn::close() {
  bool wasClosed = closed_ && !sock_.is_open();
  closed_ = true;
  if (wasClosed) return;
  boost::system::error_code ec;
  idle_.cancel();
  sock_.shutdown(tcp::socket::shutdown_both, ec);
  sock_.close(ec);
  w_.connClosed(this, false);
}

// ---------------------------------------------------------------- Worker

Worker::Worker(unsigned id, std::shared_ptr<const conf::Config> cfg, const ZoneTable& zones, PbxHealth& pbx,
               const RouteToken& tokens)
    : id_(id),
      pipeline_(Pipeline::build(*cfg)),
      dialogs_(DialogTable::Limits{std::chrono::duration_cast<std::chrono::milliseconds>(cfg->callSetupTimeout).count(),
                                   std::chrono::duration_cast<std::chrono::milliseconds>(cfg->maxCallDuration).count(),
                                   1 << 20}),
      rx_(new std::array<char, 65536>[kBatch]) {
  env_.worker = id;
  env_.cfg = std::move(cfg);
  env_.zones = &zones;
  env_.pbx = &pbx;
  env_.tokens = &tokens;
  env_.dialogs = &dialogs_;
}

Worker::~Worker() {
  stop();
  join();
}

static void setReusePort(int fd) {
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    throw std::system_error(errno, std::generic_category(), "SO_REUSEPORT");
}

void Worker::bindUdp(UdpSock& u, Endpoint& ep, bool reusePort) {
  udp::endpoint e(ep.addr, ep.port);
  u.sock.open(e.protocol());
  if (ep.addr.is_v6()) u.sock.set_option(asio::ip::v6_only(true));
  u.sock.set_option(asio::socket_base::reuse_address(true));
  if (reusePort) setReusePort(u.sock.native_handle());
  u.sock.set_option(asio::socket_base::receive_buffer_size(4 << 20));
  u.sock.set_option(asio::socket_base::send_buffer_size(4 << 20));
  int on = 1;  // each datagram carries its arrival time, for the forwarding-delay histogram
  if (::setsockopt(u.sock.native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) != 0)
    throw std::system_error(errno, std::generic_category(), "SO_TIMESTAMPNS on udp " + ep.hostport());
  boost::system::error_code ec;
  u.sock.bind(e, ec);
  if (ec) throw std::system_error(ec, "bind udp " + ep.hostport());
  u.sock.non_blocking(true);
  ep.port = u.sock.local_endpoint().port();
  u.local = ep;
}

void Worker::bindTcp(TcpListener& l, Endpoint& ep, bool reusePort) {
  tcp::endpoint e(ep.addr, ep.port);
  l.acc.open(e.protocol());
  if (ep.addr.is_v6()) l.acc.set_option(asio::ip::v6_only(true));
  l.acc.set_option(asio::socket_base::reuse_address(true));
  if (reusePort) setReusePort(l.acc.native_handle());
  boost::system::error_code ec;
  l.acc.bind(e, ec);
  if (ec) throw std::system_error(ec, "bind tcp " + ep.hostport());
  l.acc.listen(1024);
  ep.port = l.acc.local_endpoint().port();
}

void Worker::bind(std::vector<Endpoint>& publics) {
  const auto& cfg = *env_.cfg;
  env_.local.publics.clear();
  publicUdp_.clear();
  publicTcp_.clear();
  for (std::size_t i = 0; i < publics.size(); ++i) {
    SocketId sid;
    sid.kind = SocketId::Kind::Public;
    sid.index = static_cast<std::uint8_t>(i);
    sid.transport = publics[i].transport;
    if (publics[i].transport == Transport::Udp) {
      auto u = std::make_unique<UdpSock>(ioc_);
      u->id = sid;
      bindUdp(*u, publics[i], true);
      publicUdp_.push_back(std::move(u));
      publicTcp_.push_back(nullptr);
    } else {
      auto l = std::make_unique<TcpListener>(ioc_);
      l->id = sid;
      bindTcp(*l, publics[i], true);
      publicTcp_.push_back(std::move(l));
      publicUdp_.push_back(nullptr);
    }
    env_.local.publics.push_back(publics[i]);
  }
  auto addr = asio::ip::make_address(cfg.internalAddress);
  std::uint16_t port = cfg.internalPortBase ? static_cast<std::uint16_t>(cfg.internalPortBase + id_) : 0;
  Endpoint iu{Transport::Udp, addr, port};
  internalUdp_ = std::make_unique<UdpSock>(ioc_);
  internalUdp_->id = SocketId{SocketId::Kind::Internal, 0, Transport::Udp};
  bindUdp(*internalUdp_, iu, false);
  env_.local.internalUdp = iu;
  // Same port number for TCP when the kernel picked one for UDP, so Path/Record-Route read naturally.
  Endpoint it{Transport::Tcp, addr, iu.port};
  internalTcp_ = std::make_unique<TcpListener>(ioc_);
  internalTcp_->id = SocketId{SocketId::Kind::Internal, 0, Transport::Tcp};
  try {
    bindTcp(*internalTcp_, it, false);
  } catch (const std::system_error&) {
    if (cfg.internalPortBase) throw;
    internalTcp_ = std::make_unique<TcpListener>(ioc_);
    internalTcp_->id = SocketId{SocketId::Kind::Internal, 0, Transport::Tcp};
    it.port = 0;
    bindTcp(*internalTcp_, it, false);
  }
  env_.local.internalTcp = it;
}

void Worker::start() {
  for (auto& u : publicUdp_)
    if (u) readUdp(*u);
  for (auto& l : publicTcp_)
    if (l) acceptTcp(*l);
  readUdp(*internalUdp_);
  acceptTcp(*internalTcp_);
  if (id_ == 0) {
    health_ = std::make_unique<HealthChecker>(*this, *env_.pbx);
    health_->start();
    env_.health = health_.get();
  }
  housekeepingTimer_ = std::make_unique<asio::steady_timer>(ioc_);
  housekeeping();
  thread_ = std::thread([this] {
    // Named, so top -H, perf and the benchmarks can tell workers from the writer.
    ::pthread_setname_np(::pthread_self(), ("se-worker-" + std::to_string(id_)).substr(0, 15).c_str());
    run();
  });
}

void Worker::run() {
  auto guard = asio::make_work_guard(ioc_);
  // Handlers catch what they can (onMessage drops the message); anything that still escapes one is logged and
  // counted, and the worker keeps serving rather than taking the process down.
  for (;;) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& e) {
      env_.counters.internalErrors.inc();
      SE_ERROR("w%u: unexpected error in a handler: %s", id_, e.what());
    } catch (...) {
      env_.counters.internalErrors.inc();
      SE_ERROR("w%u: unexpected error in a handler", id_);
    }
  }
}

void Worker::stop() {
  ioc_.stop();
}

// Once a second: end dialogs past their setup timeout or maximum duration, forget REGISTERs the PBX never
// answered.
void Worker::housekeeping() {
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
                 .count();
  dialogs_.sweep(now);
  env_.counters.dialogsOpen.set(dialogs_.size());
  if (env_.capture) env_.capture->registrations.expire(now);
  housekeepingTimer_->expires_after(std::chrono::seconds(1));
  housekeepingTimer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec) housekeeping();
  });
}

void Worker::setCapture(capture::WorkerCapture* c) {
  env_.capture = c;
  if (c)
    dialogs_.setOnEnd([c](const Dialog& d, DialogEnd why, Millis now) { c->dialogEnded(d, why, now); });
  else
    dialogs_.setOnEnd({});
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::readUdp(UdpSock& u) {
  u.sock.async_wait(udp::socket::wait_read, [this, &u](const boost::system::error_code& ec) {
    if (ec) return;
    mmsghdr msgs[kBatch];
    iovec iov[kBatch];
    sockaddr_storage addrs[kBatch];
    union Control {  // aligned for cmsghdr; room for the SO_TIMESTAMPNS stamp
      cmsghdr align;
      char buf[CMSG_SPACE(sizeof(timespec))];
    } ctrl[kBatch];
    std::int64_t arrivedNs[kBatch];
    // Bounded drain: a flood on one socket cannot starve the others for long.
    batching_ = true;
    for (int round = 0; round < 4; ++round) {
      for (std::size_t i = 0; i < kBatch; ++i) {
        iov[i] = {rx_[i].data(), rx_[i].size()};
        std::memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &addrs[i];
        msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
        msgs[i].msg_hdr.msg_control = ctrl[i].buf;
        msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i].buf;
      }
      int n = ::recvmmsg(u.sock.native_handle(), msgs, kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) break;
      for (int i = 0; i < n; ++i) {
        arrivedNs[i] = 0;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
          if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
          timespec ts;
          std::memcpy(&ts, CMSG_DATA(c), sizeof ts);
          arrivedNs[i] = std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
        }
        Endpoint src;
        src.transport = Transport::Udp;
        auto* sa = reinterpret_cast<sockaddr*>(&addrs[i]);
        if (sa->sa_family == AF_INET) {
          auto* s4 = reinterpret_cast<sockaddr_in*>(sa);
          src.addr = asio::ip::address_v4(ntohl(s4->sin_addr.s_addr));
          src.port = ntohs(s4->sin_port);
        } else if (sa->sa_family == AF_INET6) {
          auto* s6 = reinterpret_cast<sockaddr_in6*>(sa);
          asio::ip::address_v6::bytes_type b;
          std::memcpy(b.data(), &s6->sin6_addr, 16);
          src.addr = asio::ip::address_v6(b, s6->sin6_scope_id);
          src.port = ntohs(s6->sin6_port);
        } else {
          continue;
        }
        onMessage(rx_[static_cast<std::size_t>(i)].data(), msgs[i].msg_len, src, u.id, nullptr);
      }
      // What this round forwarded leaves now, not after the next rounds: a message waits for at most one
      // round's work (kBatch messages) before its sendmmsg.
      flushUdp();
      timespec now;
      ::clock_gettime(CLOCK_REALTIME, &now);  // the stamps' clock
      const std::int64_t nowNs = std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
      for (int i = 0; i < n; ++i)
        if (arrivedNs[i] != 0) env_.counters.udpDelay.add((nowNs - arrivedNs[i]) / 1000);
      if (static_cast<std::size_t>(n) < kBatch) break;
    }
    batching_ = false;
    readUdp(u);
  });
}

void Worker::acceptTcp(TcpListener& l) {
  l.acc.async_accept([this, &l](const boost::system::error_code& ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) {
      boost::system::error_code e2;
      auto rep = s.remote_endpoint(e2);
      if (!e2 && conns_.size() < env_.cfg->tcpMaxConnections) {
        Endpoint remote{Transport::Tcp, rep.address(), rep.port()};
        auto c = std::make_shared<TcpConn>(*this, std::move(s), remote, l.id);
        conns_[remote] = c;
        env_.counters.tcpAccepted.inc();
        c->start();
      } else {
        env_.counters.tcpRejected.inc();
        s.close(e2);
      }
    }
    acceptTcp(l);
  });
}

void Worker::connClosed(TcpConn* c, bool idle) {
  if (idle) env_.counters.tcpIdleClosed.inc();
  auto it = conns_.find(c->remote());
  if (it != conns_.end() && it->second.get() == c) conns_.erase(it);
}

Worker::UdpSock* Worker::udpFor(SocketId s) {
  if (s.kind == SocketId::Kind::Internal) return internalUdp_.get();
  if (s.index < publicUdp_.size() && publicUdp_[s.index]) return publicUdp_[s.index].get();
  return internalUdp_.get();
}

void Worker::flushUdp() {
  // One sendmmsg per run of datagrams for the same socket: a syscall per batch, not per message.
  std::size_t i = 0;
  while (i < outCount_) {
    std::size_t j = i;
    mmsghdr msgs[kBatch * 2];
    iovec iov[kBatch * 2];
    std::size_t n = 0;
    while (j < outCount_ && outbox_[j].fd == outbox_[i].fd && n < kBatch * 2) {
      auto& d = outbox_[j];
      iov[n] = {d.data.data(), d.data.size()};
      std::memset(&msgs[n].msg_hdr, 0, sizeof msgs[n].msg_hdr);
      msgs[n].msg_hdr.msg_name = &d.to;
      msgs[n].msg_hdr.msg_namelen = d.toLen;
      msgs[n].msg_hdr.msg_iov = &iov[n];
      msgs[n].msg_hdr.msg_iovlen = 1;
      ++n;
      ++j;
    }
    std::size_t sent = 0;
    while (sent < n) {
      int r = ::sendmmsg(outbox_[i].fd, msgs + sent, static_cast<unsigned>(n - sent), MSG_DONTWAIT);
      if (r <= 0) {  // a full socket buffer or a dead peer: what is left of this run is lost, and counted
        env_.counters.sendErrors.inc(n - sent);
        break;
      }
      sent += static_cast<std::size_t>(r);
    }
    i = j;
  }
  outCount_ = 0;
}

void Worker::send(SocketId out, const Endpoint& dst, std::string_view data) {
  if (dst.transport == Transport::Udp) {
    UdpSock* u = udpFor(out);
    // A v4 socket cannot reach a v6 peer: fall back to a socket of the right family.
    if (u->local.addr.is_v6() != dst.addr.is_v6()) {
      u = nullptr;
      for (auto& p : publicUdp_)
        if (p && p->local.addr.is_v6() == dst.addr.is_v6()) u = p.get();
      if (!u) {
        env_.counters.sendErrors.inc();
        return;
      }
    }
    udp::endpoint to(dst.addr, dst.port);
    if (batching_) {
      if (outCount_ == outbox_.size()) outbox_.emplace_back();
      auto& d = outbox_[outCount_++];
      d.fd = u->sock.native_handle();
      std::memcpy(&d.to, to.data(), to.size());
      d.toLen = static_cast<socklen_t>(to.size());
      d.data.assign(data);  // reuses the slot's buffer
      if (outCount_ >= kBatch * 4) flushUdp();
      return;
    }
    boost::system::error_code ec;
    u->sock.send_to(asio::buffer(data.data(), data.size()), to, 0, ec);
    if (ec) env_.counters.sendErrors.inc();
    return;
  }
  auto it = conns_.find(dst);
  if (it != conns_.end()) {
    it->second->send(std::string(data));
    return;
  }
  if (conns_.size() >= env_.cfg->tcpMaxConnections) {
    env_.counters.sendErrors.inc();
    return;
  }
  SocketId via = out;
  via.transport = Transport::Tcp;
  tcp::socket s(ioc_);
  auto c = std::make_shared<TcpConn>(*this, std::move(s), dst, via);
  conns_[dst] = c;
  c->send(std::string(data));
  c->connect(tcp::endpoint(dst.addr, dst.port));
}

void Worker::sendBack(const Endpoint& src, SocketId in, TcpConn* conn, std::string data) {
  if (conn) {
    conn->send(std::move(data));
    return;
  }
  send(in, src, std::move(data));
}

void Worker::onMessage(const char* data, std::size_t len, const Endpoint& src, SocketId in, TcpConn* conn,
                       bool handedOver) {
  if (!handedOver) env_.counters.rxPackets.inc();
  Context ctx(std::string_view(data, len), src, in, env_, handedOver);
  Verdict v;
  try {
    v = pipeline_.process(ctx);
  } catch (const std::exception& e) {  // allocation failure, or a bug: lose this message, not the socket
    env_.counters.internalErrors.inc();
    SE_ERROR("w%u: message from %s dropped: %s", id_, src.text().c_str(), e.what());
    return;
  }
  switch (v.action) {
    case Action::Continue:
      (ctx.m.isRequest() ? env_.counters.forwardedRequests : env_.counters.forwardedResponses).inc();
      send(ctx.out, *ctx.target, ctx.wire);
      return;
    case Action::Answer:
      sendBack(src, in, conn, std::move(ctx.reply));
      return;
    case Action::HandOver:
      handOver(ctx.owner, data, len, src, in);
      return;
    case Action::Drop:
      if (log::enabled(conf::LogLevel::Debug))
        SE_DEBUG("w%u dropped a message from %s: %s", id_, src.text().c_str(),
                 std::string(reasonName(v.reason)).c_str());
      return;
  }
}

void Worker::handOver(unsigned owner, const char* data, std::size_t len, const Endpoint& src, SocketId in) {
  if (!peers_ || owner >= peers_->size()) return;
  env_.counters.crossWorker.inc();
  Worker* w = (*peers_)[owner].get();
  asio::post(w->ioc(), [w, bytes = std::string(data, len), src, in] {
    w->onMessage(bytes.data(), bytes.size(), src, in, nullptr, true);
  });
}

}  // namespace sipedge::proxy
