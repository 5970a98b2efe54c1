#include "control_server.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace sipedge::proxy {

namespace {
constexpr std::size_t kMaxRequest = 1 << 20;
constexpr int kClientTimeoutMs = 5000;
}  // namespace

ControlServer::ControlServer(std::string path, Handler handler) : path_(std::move(path)), handler_(std::move(handler)) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path_.size() >= sizeof sa.sun_path) throw std::runtime_error(path_ + ": control socket path too long");
  std::memcpy(sa.sun_path, path_.c_str(), path_.size() + 1);
  listenFd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listenFd_ < 0) throw std::runtime_error("control socket: " + std::string(std::strerror(errno)));
  ::unlink(path_.c_str());  // a stale socket from a crashed run
  mode_t old = ::umask(0077);
  int rc = ::bind(listenFd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  ::umask(old);
  if (rc != 0 || ::listen(listenFd_, 8) != 0) {
    int e = errno;
    ::close(listenFd_);
    throw std::runtime_error(path_ + ": cannot listen: " + std::strerror(e));
  }
  ::chmod(path_.c_str(), 0600);
  if (::pipe2(wakeFd_, O_CLOEXEC) != 0) throw std::runtime_error("control socket: pipe failed");
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "se-control");
    run();
  });
}

ControlServer::~ControlServer() {
  if (wakeFd_[1] >= 0) {
    char c = 1;
    [[maybe_unused]] auto n = ::write(wakeFd_[1], &c, 1);
  }
  if (thread_.joinable()) thread_.join();
  for (int fd : {listenFd_, wakeFd_[0], wakeFd_[1]})
    if (fd >= 0) ::close(fd);
  ::unlink(path_.c_str());
}

void ControlServer::run() {
  while (true) {
    pollfd p[2] = {{listenFd_, POLLIN, 0}, {wakeFd_[0], POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    if (p[0].revents & POLLIN) {
      int c = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        serve(c);
        ::close(c);
      }
    }
  }
}

void ControlServer::serve(int fd) {
  // One client at a time, each bounded in size and time: a stuck client cannot hold the channel.
  std::string req;
  char buf[4096];
  while (req.find('\n') == std::string::npos && req.size() < kMaxRequest) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kClientTimeoutMs) <= 0) return;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    req.append(buf, static_cast<std::size_t>(n));
  }
  if (auto nl = req.find('\n'); nl != std::string::npos) req.resize(nl);
  std::string answer = handler_(req) + "\n";
  std::size_t off = 0;
  while (off < answer.size()) {
    ssize_t n = ::send(fd, answer.data() + off, answer.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace sipedge::proxy
