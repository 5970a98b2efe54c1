// UDP plumbing implementation.
#include "udp_io.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "mini_parser.hpp"

namespace sipbench {

bool makeAddr(std::string_view host, uint16_t port, sockaddr_in& out) {
  out = sockaddr_in{};
  out.sin_family = AF_INET;
  out.sin_port = htons(port);
  char tmp[INET_ADDRSTRLEN];
  if (host.size() >= sizeof tmp) return false;
  std::memcpy(tmp, host.data(), host.size());
  tmp[host.size()] = '\0';
  return inet_pton(AF_INET, tmp, &out.sin_addr) == 1;
}

bool parseHostPort(std::string_view hp, sockaddr_in& out) {
  const auto colon = hp.rfind(':');
  if (colon == std::string_view::npos) return false;
  const auto port = parseUint(hp.substr(colon + 1));
  if (!port || *port > 65535) return false;
  return makeAddr(hp.substr(0, colon), static_cast<uint16_t>(*port), out);
}

std::string formatAddr(const sockaddr_in& a) {
  char tmp[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a.sin_addr, tmp, sizeof tmp);
  return std::string(tmp) + ":" + std::to_string(ntohs(a.sin_port));
}

UdpSocket::~UdpSocket() {
  if (fd_ >= 0) ::close(fd_);
}

std::string UdpSocket::open(const sockaddr_in& addr, bool reuse_port, int buffer_bytes) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return std::string("socket: ") + std::strerror(errno);
  const int one = 1;
  if (reuse_port && ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
    return std::string("SO_REUSEPORT: ") + std::strerror(errno);
  if (buffer_bytes > 0) {
    // Large buffers absorb bursts so a short scheduling hiccup does not turn into packet loss. The FORCE
    // variants exceed rmem_max/wmem_max when running as root; otherwise fall back to the capped ones.
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buffer_bytes, sizeof buffer_bytes) != 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof buffer_bytes);
    if (::setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &buffer_bytes, sizeof buffer_bytes) != 0)
      ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof buffer_bytes);
  }
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return "bind " + formatAddr(addr) + ": " + std::strerror(errno);
  socklen_t len = sizeof local_;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&local_), &len) != 0)
    return std::string("getsockname: ") + std::strerror(errno);
  return {};
}

RecvBatch::RecvBatch() {
  for (std::size_t i = 0; i < kBatch; ++i) {
    iovs_[i] = iovec{bufs_[i].data(), kBufSize};
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
  }
}

int RecvBatch::receive(int fd) {
  for (std::size_t i = 0; i < kBatch; ++i) {
    msgs_[i].msg_hdr.msg_name = &addrs_[i];
    msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    msgs_[i].msg_hdr.msg_flags = 0;
  }
  const int n = ::recvmmsg(fd, msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
  return n < 0 ? 0 : n;
}

SendBatch::SendBatch() {
  for (std::size_t i = 0; i < kBatch; ++i) {
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
    msgs_[i].msg_hdr.msg_name = &addrs_[i];
    msgs_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
  }
}

BufWriter SendBatch::begin(int fd) {
  if (pending_ == kBatch) flush(fd);
  return BufWriter(bufs_[pending_].data(), kBufSize);
}

void SendBatch::commit(const BufWriter& w, const sockaddr_in& dest) {
  if (w.overflow() || w.size() == 0) {
    ++build_errors_;
    return;
  }
  iovs_[pending_] = iovec{bufs_[pending_].data(), w.size()};
  addrs_[pending_] = dest;
  ++pending_;
}

void SendBatch::flush(int fd) {
  std::size_t off = 0;
  // Bounded: each round either sends at least one datagram or drops one.
  while (off < pending_) {
    const int n = ::sendmmsg(fd, msgs_.data() + off, static_cast<unsigned>(pending_ - off), MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      sent_ += static_cast<uint64_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      ++off;  // the head datagram cannot go now (full buffer or unreachable): drop it, like the network would
      ++dropped_;
    }
  }
  pending_ = 0;
}

void waitReadable(int fd, int64_t timeout_us) {
  if (timeout_us <= 0) return;
  pollfd p{fd, POLLIN, 0};
  const timespec ts{static_cast<time_t>(timeout_us / 1'000'000), static_cast<long>((timeout_us % 1'000'000) * 1000)};
  ::ppoll(&p, 1, &ts, nullptr);
}

}  // namespace sipbench
