// UDP plumbing: a non-blocking socket, and fixed receive/send batches driven by recvmmsg/sendmmsg so one
// system call moves up to kBatch datagrams in either direction.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "buf_writer.hpp"

namespace sipbench {

// Parses "a.b.c.d" (IPv4 only: the benchmark runs on 127.0.0.1) and a port into a sockaddr_in.
bool makeAddr(std::string_view host, uint16_t port, sockaddr_in& out);
// Parses "HOST:PORT" (port required).
bool parseHostPort(std::string_view hp, sockaddr_in& out);
std::string formatAddr(const sockaddr_in& a);  // "a.b.c.d:port"; start-up and reporting only

// Owns one non-blocking UDP socket.
class UdpSocket {
 public:
  UdpSocket() = default;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  ~UdpSocket();

  // Binds to `addr`. With reuse_port, several sockets may share a port and the kernel spreads datagrams
  // over them by flow hash (UAS workers). Returns an errno-style message on failure, empty on success.
  std::string open(const sockaddr_in& addr, bool reuse_port, int buffer_bytes);
  int fd() const { return fd_; }
  const sockaddr_in& local() const { return local_; }

 private:
  int fd_ = -1;
  sockaddr_in local_{};
};

inline constexpr std::size_t kBatch = 64;

// Receive side: kBatch buffers refilled by one recvmmsg. Buffers are large enough for any message a proxy
// in a benchmark sends; a longer datagram is reported truncated so it is counted, not misparsed.
class RecvBatch {
 public:
  static constexpr std::size_t kBufSize = 8192;
  RecvBatch();
  // Returns how many datagrams were received (0 when none are waiting, or on error).
  int receive(int fd);
  std::string_view data(int i) const { return {bufs_[i].data(), msgs_[i].msg_len}; }
  bool truncated(int i) const { return (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) != 0; }
  const sockaddr_in& source(int i) const { return addrs_[i]; }

 private:
  std::array<std::array<char, kBufSize>, kBatch> bufs_;
  std::array<iovec, kBatch> iovs_{};
  std::array<sockaddr_in, kBatch> addrs_{};
  std::array<mmsghdr, kBatch> msgs_{};
};

// Send side: messages are written straight into batch slots and sent by one sendmmsg per flush.
class SendBatch {
 public:
  static constexpr std::size_t kBufSize = 4096;
  SendBatch();

  // Gives a writer over the next free slot, flushing first if the batch is full. The caller must call
  // commit() with the finished writer, or nothing is sent.
  BufWriter begin(int fd);
  // Queues the message written into the slot returned by begin(). Overflowed messages are dropped and
  // counted as build errors.
  void commit(const BufWriter& w, const sockaddr_in& dest);
  // Sends everything queued. Datagrams the kernel refuses (EAGAIN, ENOBUFS) are dropped and counted;
  // retransmission timers recover them as they would a lost packet.
  void flush(int fd);

  uint64_t sent() const { return sent_; }
  uint64_t dropped() const { return dropped_; }
  uint64_t buildErrors() const { return build_errors_; }

 private:
  std::array<std::array<char, kBufSize>, kBatch> bufs_;
  std::array<iovec, kBatch> iovs_{};
  std::array<sockaddr_in, kBatch> addrs_{};
  std::array<mmsghdr, kBatch> msgs_{};
  std::size_t pending_ = 0;
  uint64_t sent_ = 0;
  uint64_t dropped_ = 0;
  uint64_t build_errors_ = 0;
};

// Waits until fd is readable or timeout_us elapses (microsecond resolution, unlike poll()).
void waitReadable(int fd, int64_t timeout_us);

}  // namespace sipbench
