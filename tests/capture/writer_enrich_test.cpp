// CaptureWriter + Enricher: region/ISP land with the first IP-log row, the hostname lands on that same row when
// the (injected) reverse lookup finishes, without counting as another registration.
#include <gtest/gtest.h>

#include <thread>

#include "capture/writer.h"
#include "data/mmdb_writer.h"
#include "fixtures.h"

using namespace sipedge;
using namespace sipedge::capture;
using namespace std::chrono_literals;
using sipedge::testdata::mmdb::Value;

namespace {

TEST(WriterEnrich, GeoOnFirstRowHostnameLaterSameCount) {
  fixtures::TempStore db("writer-enrich");
  const std::string dir = db.dir();
  testdata::mmdb::Writer w(6);
  w.insert("192.0.2.0/24",
           Value::m({{"country", Value::m({{"iso_code", Value::s("US")}})}, {"isp", Value::s("Doc ISP")}}));
  w.writeFile(dir + "/db.mmdb");

  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  Enricher::Options eo;
  eo.geoipPath = dir + "/db.mmdb";
  eo.reverseDns = true;
  eo.resolve = [&](const std::string& ip) {
    std::unique_lock l(mu);
    cv.wait(l, [&] { return release; });
    return ip == "192.0.2.7" ? std::string("phone7.example.net") : std::string();
  };
  Enricher en(eo);

  auto parser = DeviceParser::fromText(builtinDeviceTable(), "built-in");
  WorkerCapture cap(0, 1024);
  CaptureWriter::Options wo;
  wo.enricher = &en;
  CaptureWriter writer(*db, parser, {&cap}, wo);
  writer.start();

  RegistrationEvent e = fixtures::registration(1'700'000'000'000, "sip:100@192.0.2.7:5060", "192.0.2.7", 5060);
  cap.emit(CaptureEvent{e});

  auto waitFor = [&](auto pred) {
    for (int i = 0; i < 500 && !pred(); ++i) std::this_thread::sleep_for(10ms);
    return pred();
  };
  ASSERT_TRUE(waitFor([&] { return db->ipLog("example.com", "100").size() == 1; }));
  auto row = db->ipLog("example.com", "100").at(0);
  EXPECT_EQ(row.region, "US");
  EXPECT_EQ(row.isp, "Doc ISP");
  EXPECT_EQ(row.hostname, "");
  EXPECT_EQ(row.count, 1u);
  {
    std::lock_guard l(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(waitFor([&] { return db->ipLog("example.com", "100").at(0).hostname == "phone7.example.net"; }));
  row = db->ipLog("example.com", "100").at(0);
  EXPECT_EQ(row.count, 1u);  // enrichment is not a registration
  EXPECT_EQ(row.event, "new-ip");

  e.time += 60'000;  // refresh: the cached name comes along directly
  cap.emit(CaptureEvent{e});
  ASSERT_TRUE(waitFor([&] { return db->ipLog("example.com", "100").at(0).count == 2; }));
  EXPECT_EQ(db->ipLog("example.com", "100").at(0).hostname, "phone7.example.net");
  writer.stop();
}

}  // namespace
