// What the capture tests share: a store in a fresh temporary directory, and a registration event as a phone's
// REGISTER produces it.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "capture/events.h"
#include "store/store.h"

namespace sipedge::capture::fixtures {

// A real store under /tmp/<prefix>-XXXXXX, removed with everything in it when the object goes.
class TempStore {
 public:
  explicit TempStore(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl);
    dir_ = tmpl;
    store::StoreOptions o;
    o.path = dir_ + "/db";
    o.keyFile = dir_ + "/store.key";
    store_ = store::Store::open(o);
  }
  ~TempStore() {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempStore(const TempStore&) = delete;
  TempStore& operator=(const TempStore&) = delete;

  store::Store& operator*() { return *store_; }
  store::Store* operator->() { return store_.get(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::unique_ptr<store::Store> store_;
};

// User 100 of example.com registering `contact` from srcIp:srcPort over UDP.
inline RegistrationEvent registration(Millis t, const std::string& contact, const std::string& srcIp,
                                      std::uint16_t srcPort, std::int64_t expires = 3600) {
  RegistrationEvent r;
  r.time = t;
  r.tenant = "example.com";
  r.user = "100";
  r.contact = contact;
  r.srcIp = srcIp;
  r.srcPort = srcPort;
  r.transport = "udp";
  r.expires = expires;
  return r;
}

}  // namespace sipedge::capture::fixtures
