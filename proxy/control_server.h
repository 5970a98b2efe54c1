// A local management channel: JSON requests on a Unix socket (data_dir/ctl.sock, mode 0600, so only the
// account that runs sipedge can use it), one request line in, one answer line out. `sipedge-ctl` uses it while
// sipedge runs, because RocksDB allows a single writer process.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace sipedge::proxy {

class ControlServer {
 public:
  using Handler = std::function<std::string(const std::string& request)>;

  // Binds the socket (replacing a stale one). Throws std::runtime_error naming the path on failure.
  ControlServer(std::string path, Handler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  void run();
  void serve(int fd);

  std::string path_;
  Handler handler_;
  int listenFd_ = -1;
  int wakeFd_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace sipedge::proxy
