// sipedge: SIP edge proxy. Parses the command line and config, binds every worker's sockets, runs until
// SIGTERM/SIGINT.
#include <sodium.h>

#include <boost/asio/signal_set.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>

#include "capture/device_parser.h"
#include "capture/worker_capture.h"
#include "capture/writer.h"
#include "conf/config.h"
#include "control_server.h"
#include "log.h"
#include "pipeline.h"
#include "stats.h"
#include "store/admin.h"
#include "store/store.h"
#include "worker.h"

#ifndef SIPEDGE_VERSION
#define SIPEDGE_VERSION "0.0.0"
#endif

using namespace sipedge;

namespace {

void usage(std::FILE* to) {
  std::fprintf(to,
               "usage: sipedge [--config FILE] [--ready-file FILE]\n"
               "       sipedge --check-config FILE [-v]\n"
               "       sipedge --version\n"
               "  --config FILE       configuration (default conf/sipedge.toml)\n"
               "  --check-config FILE validate FILE and exit (0 = valid)\n"
               "  -v, --verbose       with --check-config: also print the pipeline built from FILE\n"
               "  --ready-file FILE   once all sockets are bound, write their addresses to FILE\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::string configPath = "conf/sipedge.toml";
  std::string readyFile;
  bool checkOnly = false;
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* opt) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "sipedge: %s needs a value\n", opt);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--config")
      configPath = value("--config");
    else if (a == "--check-config")
      configPath = value("--check-config"), checkOnly = true;
    else if (a == "-v" || a == "--verbose")
      verbose = true;
    else if (a == "--ready-file")
      readyFile = value("--ready-file");
    else if (a == "--version") {
      std::printf("sipedge %s\n", SIPEDGE_VERSION);
      return 0;
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "sipedge: unknown argument '%s'\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }

  std::shared_ptr<const conf::Config> cfg;
  try {
    cfg = conf::loadConfig(configPath);
  } catch (const conf::ConfigError& e) {
    std::fprintf(stderr, "sipedge: config error: %s\n", e.what());
    return 1;
  }
  if (checkOnly) {
    std::printf("%s: config OK\n", configPath.c_str());
    if (verbose) std::printf("%s", proxy::describePipeline(*cfg).c_str());
    return 0;
  }
  proxy::log::setLevel(cfg->logLevel, cfg->logClearNumbers);

  std::error_code fsErr;
  std::filesystem::create_directories(cfg->dataDir, fsErr);
  if (fsErr) {
    std::fprintf(stderr, "sipedge: cannot create data_dir '%s': %s\n", cfg->dataDir.c_str(), fsErr.message().c_str());
    return 1;
  }
  // The store, keys and control socket live here: nobody but sipedge's account may look inside.
  std::filesystem::permissions(cfg->dataDir, std::filesystem::perms::group_all | std::filesystem::perms::others_all,
                               std::filesystem::perm_options::remove, fsErr);
  if (fsErr) {
    std::fprintf(stderr, "sipedge: cannot restrict data_dir '%s' to its owner: %s\n", cfg->dataDir.c_str(),
                 fsErr.message().c_str());
    return 1;
  }

  if (sodium_init() < 0) {
    std::fprintf(stderr, "sipedge: libsodium failed to initialise\n");
    return 1;
  }
  std::unique_ptr<proxy::RouteToken> tokens;
  try {
    tokens = std::make_unique<proxy::RouteToken>(proxy::RouteToken::loadOrCreateKey(cfg->dataDir + "/route.key"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sipedge: %s\n", e.what());
    return 1;
  }
  proxy::sofiaInit();
  proxy::ZoneTable zones(*cfg);
  std::vector<proxy::Endpoint> pbxTargets;
  for (auto& t : cfg->pbx) pbxTargets.push_back({t.transport, boost::asio::ip::make_address(t.address), t.port});
  proxy::PbxHealth health(pbxTargets);

  std::vector<std::unique_ptr<proxy::Worker>> workers;
  std::vector<proxy::Endpoint> publics;
  for (auto& l : cfg->listen) publics.push_back({l.transport, boost::asio::ip::make_address(l.address), l.port});
  try {
    for (unsigned i = 0; i < cfg->workers; ++i) {
      workers.push_back(std::make_unique<proxy::Worker>(i, cfg, zones, health, *tokens));
      workers.back()->bind(publics);
    }
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "sipedge: cannot bind: %s\n", e.what());
    return 1;
  }
  // Capture: the store, the User-Agent table, one capture per worker and the writer that drains them.
  std::unique_ptr<store::Store> db;
  std::unique_ptr<capture::DeviceParser> deviceTable;
  std::vector<std::unique_ptr<capture::WorkerCapture>> captures;
  std::unique_ptr<capture::Enricher> enricher;
  std::unique_ptr<capture::CaptureWriter> writer;
  if (cfg->captureEnabled) {
    if (!cfg->geoipDatabase.empty() || cfg->reverseDns) {
      try {
        capture::Enricher::Options eo;
        eo.geoipPath = cfg->geoipDatabase;
        eo.reverseDns = cfg->reverseDns;
        enricher = std::make_unique<capture::Enricher>(eo);
      } catch (const capture::EnrichError& e) {
        std::fprintf(stderr, "sipedge: %s: option 'capture.geoip_database': %s\n", cfg->sourcePath.c_str(), e.what());
        return 1;
      }
    }
    try {
      deviceTable = std::make_unique<capture::DeviceParser>(
          cfg->devicesFile.empty()
              ? capture::DeviceParser::fromText(capture::builtinDeviceTable(), "built-in conf/devices.tsv")
              : capture::DeviceParser::loadFile(cfg->devicesFile));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "sipedge: %s\n", e.what());
      return 1;
    }
    try {
      store::StoreOptions so;
      so.path = cfg->storePath;
      so.keyFile = cfg->storeKeyFile;
      so.retention.ipLog = cfg->ipLogRetention;
      so.retention.cdr = cfg->cdrRetention;
      so.retention.audit = cfg->auditRetention;
      db = store::Store::open(so);
      db->setSync(cfg->storeSync);
      auto now =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      for (auto& mac : cfg->provisionedMacs)
        if (!db->isProvisioned(mac)) db->addProvisioned({mac, "", "", "from config", now});
    } catch (const store::StoreError& e) {
      std::fprintf(stderr, "sipedge: store: %s\n", e.what());
      return 1;
    }
    std::vector<capture::WorkerCapture*> sources;
    for (auto& w : workers) {
      captures.push_back(std::make_unique<capture::WorkerCapture>(captures.size(), cfg->captureQueueSize));
      w->setCapture(captures.back().get());
      sources.push_back(captures.back().get());
    }
    capture::CaptureWriter::Options wo;
    wo.sweepInterval = std::chrono::duration_cast<std::chrono::milliseconds>(cfg->captureSweepInterval);
    wo.enricher = enricher.get();
    wo.refreshWriteInterval = std::chrono::duration_cast<std::chrono::milliseconds>(cfg->refreshWriteInterval);
    writer = std::make_unique<capture::CaptureWriter>(*db, *deviceTable, sources, wo);
  }

  std::vector<proxy::Endpoint> internals;
  for (auto& w : workers) {
    internals.push_back(w->internalUdp());
    internals.push_back(w->internalTcp());
  }
  for (auto& w : workers) {
    w->setEveryInternal(internals);
    w->setPeers(&workers);
  }

  boost::asio::io_context mainIo(1);
  boost::asio::signal_set signals(mainIo, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (!ec) SE_INFO("signal %d: stopping", sig);
    mainIo.stop();
  });
  // SIGHUP must not kill a production proxy; live reload comes with a later issue.
  boost::asio::signal_set hup(mainIo, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> onHup = [&](const boost::system::error_code& ec, int) {
    if (ec) return;
    SE_WARN("SIGHUP: configuration reload is not supported yet; restart sipedge to apply changes");
    hup.async_wait(onHup);
  };
  hup.async_wait(onHup);
  ::signal(SIGPIPE, SIG_IGN);

  if (writer) writer->start();
  for (auto& w : workers) w->start();

  // Management requests: `stats` is answered here from the workers' counters; the rest run on the writer
  // thread, the store's single writer.
  std::vector<const proxy::Counters*> counters;
  for (auto& w : workers) counters.push_back(&w->counters());
  std::unique_ptr<proxy::ControlServer> control;
  try {
    control = std::make_unique<proxy::ControlServer>(cfg->dataDir + "/ctl.sock", [&](const std::string& line) {
      nlohmann::ordered_json req;
      try {
        req = nlohmann::ordered_json::parse(line);
      } catch (const std::exception&) {
        return std::string(R"({"ok":false,"error":"request is not JSON"})");
      }
      if (req.is_object() && req.value("op", std::string()) == "stats") {
        auto answer = proxy::statsJson(counters);
        answer["ok"] = true;
        return answer.dump();
      }
      if (!writer)
        return std::string(R"({"ok":false,"error":"capture is off in the running sipedge, so its store is not open"})");
      auto answer = writer->submit([req](store::Store& s) {
        return store::runAdmin(s, req, "operator:ctl").dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      });
      if (answer.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
        return std::string(R"({"ok":false,"error":"sipedge is busy: try again"})");
      return answer.get();
    });
  } catch (const std::exception& e) {
    SE_WARN("management socket unavailable: %s", e.what());
  }

  std::string summary;
  for (std::size_t i = 0; i < publics.size(); ++i)
    summary += "listen " + std::string(conf::transportName(publics[i].transport)) + " " + publics[i].addr.to_string() +
               " " + std::to_string(publics[i].port) + "\n";
  for (std::size_t i = 0; i < workers.size(); ++i) {
    auto u = workers[i]->internalUdp(), t = workers[i]->internalTcp();
    summary += "internal " + std::to_string(i) + " udp " + u.addr.to_string() + " " + std::to_string(u.port) + "\n";
    summary += "internal " + std::to_string(i) + " tcp " + t.addr.to_string() + " " + std::to_string(t.port) + "\n";
  }
  if (!readyFile.empty()) {
    std::string tmp = readyFile + ".tmp";
    {
      std::ofstream f(tmp);
      f << summary;
    }
    std::filesystem::rename(tmp, readyFile, fsErr);
  }
  SE_INFO("sipedge %s: %u workers, pbx %s", SIPEDGE_VERSION, cfg->workers, cfg->pbx.front().text().c_str());
  for (std::size_t i = 0; i < publics.size(); ++i) SE_INFO("listening on %s", publics[i].text().c_str());

  mainIo.run();
  for (auto& w : workers) w->stop();
  for (auto& w : workers) w->join();
  control.reset();
  if (writer) {
    writer->stop();  // drains every queue into the store, then flushes it
    std::uint64_t queued = 0, drops = 0, untracked = 0;
    for (auto& c : captures) {
      queued += c->queued.load();
      drops += c->drops.load();
      untracked += c->untracked.load();
    }
    const auto& ws = writer->stats();
    SE_INFO(
        "capture: %llu events queued, %llu dropped (queue full), %llu untracked (tables full); writer: %llu "
        "events in %llu batches, %llu write errors",
        static_cast<unsigned long long>(queued), static_cast<unsigned long long>(drops),
        static_cast<unsigned long long>(untracked), static_cast<unsigned long long>(ws.events.load()),
        static_cast<unsigned long long>(ws.batches.load()), static_cast<unsigned long long>(ws.writeErrors.load()));
  }
  writer.reset();
  db.reset();
  SE_INFO("stopped");
  return 0;
}
