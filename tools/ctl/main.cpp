// sipedge-ctl: the operator's tool for captured data. Talks to a running sipedge over data_dir/ctl.sock, or,
// when sipedge is not running, opens the store itself. Prints JSON; exits 0 on success, 1 on an error
// (explained on stderr), 2 on bad arguments.
#include <sodium.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "conf/config.h"
#include "store/admin.h"

using Json = nlohmann::ordered_json;

namespace {

const char* kUsage = R"(usage: sipedge-ctl [--config FILE | --data DIR] COMMAND [ARGS]

  users                               every user with stored data
  iplog USER@TENANT                   a user's IP log (P1)
  devices USER@TENANT                 a user's registered devices (P2)
  cdrs USER@TENANT [--all]            a user's CDRs; --all includes the ones they hid (operator view)
  export USER@TENANT [--out FILE]     everything about one user, as JSON (P5)
  erase USER@TENANT --yes             erase a user's data, except CDRs under legal hold (P5; audited)
  hide ID | unhide ID                 hide a CDR from its user's own view, or show it again
  hold ID | release ID                put a CDR under legal hold, or release it
  provision add MAC USER@TENANT [MODEL]
  provision remove MAC
  provision list
  audit                               the audit log
  retention                           age of the oldest record of each kind
  stats                               the running sipedge's counters and UDP forwarding-delay histogram

  --config FILE   sipedge config to find the store (default conf/sipedge.toml)
  --data DIR      use DIR as data_dir instead (store in DIR/store, key DIR/store.key)
)";

[[noreturn]] void usage(const std::string& why) {
  if (!why.empty()) std::fprintf(stderr, "sipedge-ctl: %s\n", why.c_str());
  std::fputs(kUsage, stderr);
  std::exit(2);
}

bool splitAor(const std::string& aor, Json& req) {
  auto at = aor.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == aor.size()) return false;
  req["user"] = aor.substr(0, at);
  req["tenant"] = aor.substr(at + 1);
  return true;
}

// The answer from a running sipedge, or nullopt when none listens on `sock`.
std::optional<std::string> askRunning(const std::string& sock, const std::string& request) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (sock.size() >= sizeof sa.sun_path) return std::nullopt;
  std::memcpy(sa.sun_path, sock.c_str(), sock.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  std::string line = request + "\n";
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    ::close(fd);
    return std::nullopt;
  }
  std::string answer;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) answer.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  if (!answer.empty() && answer.back() == '\n') answer.pop_back();
  return answer;
}

}  // namespace

int main(int argc, char** argv) {
  std::string configPath = "conf/sipedge.toml", dataDir;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" || a == "--data") {
      if (i + 1 >= argc) usage(a + " needs a value");
      (a == "--config" ? configPath : dataDir) = argv[++i];
    } else if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      args.push_back(a);
    }
  }
  if (args.empty()) usage("no command");

  Json req;
  std::string outFile;
  const std::string& cmd = args[0];
  auto needAor = [&](std::size_t i) {
    if (args.size() <= i || !splitAor(args[i], req)) usage(cmd + " needs USER@TENANT");
  };
  auto needId = [&]() {
    if (args.size() != 2) usage(cmd + " needs a CDR id");
    req["id"] = args[1];
  };
  if (cmd == "users" || cmd == "audit" || cmd == "retention" || cmd == "stats") {
    req["op"] = cmd;
  } else if (cmd == "iplog" || cmd == "devices") {
    req["op"] = cmd;
    needAor(1);
  } else if (cmd == "cdrs") {
    req["op"] = cmd;
    needAor(1);
    req["all"] = args.size() > 2 && args[2] == "--all";
  } else if (cmd == "export") {
    req["op"] = cmd;
    needAor(1);
    if (args.size() == 4 && args[2] == "--out")
      outFile = args[3];
    else if (args.size() != 2)
      usage("export USER@TENANT [--out FILE]");
  } else if (cmd == "erase") {
    req["op"] = cmd;
    needAor(1);
    if (args.size() != 3 || args[2] != "--yes") usage("erase removes data for good: add --yes to confirm");
  } else if (cmd == "hide" || cmd == "unhide" || cmd == "hold" || cmd == "release") {
    req["op"] = cmd;
    needId();
  } else if (cmd == "provision" && args.size() >= 2 && args[1] == "add") {
    if (args.size() < 4 || args.size() > 5) usage("provision add MAC USER@TENANT [MODEL]");
    req["op"] = "provision-add";
    req["mac"] = args[2];
    needAor(3);
    if (args.size() == 5) req["model"] = args[4];
  } else if (cmd == "provision" && args.size() == 3 && args[1] == "remove") {
    req["op"] = "provision-remove";
    req["mac"] = args[2];
  } else if (cmd == "provision" && args.size() == 2 && args[1] == "list") {
    req["op"] = "provisioned";
  } else {
    usage("unknown command '" + cmd + "'");
  }

  std::string storePath, keyFile, sock;
  if (!dataDir.empty()) {
    storePath = dataDir + "/store";
    keyFile = dataDir + "/store.key";
    sock = dataDir + "/ctl.sock";
  } else {
    try {
      auto cfg = sipedge::conf::loadConfig(configPath);
      storePath = cfg->storePath;
      keyFile = cfg->storeKeyFile;
      sock = cfg->dataDir + "/ctl.sock";
    } catch (const sipedge::conf::ConfigError& e) {
      std::fprintf(stderr, "sipedge-ctl: config error: %s\n", e.what());
      return 1;
    }
  }

  Json answer;
  if (auto a = askRunning(sock, req.dump())) {
    try {
      answer = Json::parse(*a);
    } catch (const std::exception&) {
      std::fprintf(stderr, "sipedge-ctl: garbled answer from sipedge on %s\n", sock.c_str());
      return 1;
    }
  } else if (cmd == "stats") {
    std::fprintf(stderr, "sipedge-ctl: stats come from a running sipedge, and none answers on %s\n", sock.c_str());
    return 1;
  } else {
    if (sodium_init() < 0) {
      std::fprintf(stderr, "sipedge-ctl: libsodium failed to initialise\n");
      return 1;
    }
    try {
      sipedge::store::StoreOptions o;
      o.path = storePath;
      o.keyFile = keyFile;
      o.createIfMissing = false;
      auto store = sipedge::store::Store::open(o);
      answer = sipedge::store::runAdmin(*store, req, "operator:sipedge-ctl");
      store->flush();
    } catch (const sipedge::store::StoreError& e) {
      std::fprintf(stderr, "sipedge-ctl: %s\n", e.what());
      return 1;
    }
  }
  if (!answer.value("ok", false)) {
    std::fprintf(stderr, "sipedge-ctl: %s\n", answer.value("error", std::string("failed")).c_str());
    return 1;
  }
  answer.erase("ok");
  std::string text = answer.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  if (!outFile.empty()) {
    std::ofstream f(outFile);
    f << (answer.contains("export") ? answer["export"].dump(2) + "\n" : text);
    if (!f) {
      std::fprintf(stderr, "sipedge-ctl: cannot write %s\n", outFile.c_str());
      return 1;
    }
    return 0;
  }
  std::fputs(text.c_str(), stdout);
  return 0;
}
