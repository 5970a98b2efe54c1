#include "conf/config.h"

#include <gtest/gtest.h>

using namespace sipedge::conf;

namespace {
const char* kMinimal = R"([[listen]]
transport = "udp"
address = "127.0.0.1"
port = 5060
[pbx]
targets = ["udp:127.0.0.1:5080"]
)";

std::string errorOf(const std::string& text) {
  try {
    parseConfig(text, "test.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, DefaultFileLoads) {
  auto c = loadConfig(std::string(SIPEDGE_SOURCE_DIR) + "/conf/sipedge.toml");
  ASSERT_EQ(c->listen.size(), 2u);
  EXPECT_EQ(c->listen[0].port, 5060);
  EXPECT_EQ(c->pbx.at(0).port, 5080);
  EXPECT_GE(c->workers, 1u);
  EXPECT_EQ(c->dataDir, "data");
}

TEST(Config, MinimalHasDefaults) {
  auto c = parseConfig(kMinimal, "m.toml");
  EXPECT_EQ(c->maxMessageBytes, 65535u);
  EXPECT_EQ(c->internalPortBase, 5070);
}

TEST(Config, ErrorsNameFileLineAndOption) {
  EXPECT_EQ(errorOf(std::string(kMinimal) + "[limits]\nmax_message_bytes = 10\n"),
            "test.toml:8: option 'limits.max_message_bytes': must be between 1024 and 65535");
  EXPECT_EQ(errorOf(std::string(kMinimal) + "[server]\nworker = 2\n"),
            "test.toml:8: option 'server.worker': unknown option");
  EXPECT_EQ(errorOf(std::string(kMinimal) + "[server]\nlog_level = \"loud\"\n"),
            "test.toml:8: option 'server.log_level': must be one of error, warn, info, debug");
  EXPECT_NE(errorOf("[[listen]]\ntransport = \"sctp\"\naddress = \"127.0.0.1\"\n")
                .find("test.toml:2: option 'listen.transport'"),
            std::string::npos);
  EXPECT_NE(errorOf("[[listen]]\ntransport = \"udp\"\naddress = \"localhost\"\n").find("not a numeric"),
            std::string::npos);
  EXPECT_NE(errorOf("[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1\"\n").find("pbx.targets"),
            std::string::npos);
  EXPECT_NE(
      errorOf(std::string(kMinimal) + "[[carrier]]\nname = \"x\"\ntarget = \"udp:nowhere:1\"\n").find("test.toml:9"),
      std::string::npos);
  EXPECT_NE(errorOf("this is = = not toml").find("test.toml:1"), std::string::npos);
}

TEST(Config, ParsesTargets) {
  auto t = parseTarget("tcp:[::1]:5070");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->transport, Transport::Tcp);
  EXPECT_EQ(t->address, "::1");
  EXPECT_EQ(t->port, 5070);
  EXPECT_TRUE(parseTarget("127.0.0.1"));
  EXPECT_FALSE(parseTarget("udp:127.0.0.1:0"));
  EXPECT_FALSE(parseTarget("udp:127.0.0.1:99999"));
  EXPECT_FALSE(parseTarget("udp:example.com:5060"));
}

TEST(Config, CaptureAndStoreOptions) {
  auto c = parseConfig(std::string(kMinimal) +
                           "[capture]\nmax_call_duration = \"2h\"\nprovisioned = [\"00-15-65-AA-BB-CC\"]\n"
                           "[store]\nip_log_retention = \"30d\"\ncdr_retention = \"45s\"\n",
                       "c.toml");
  EXPECT_EQ(c->maxCallDuration, std::chrono::hours(2));
  ASSERT_EQ(c->provisionedMacs.size(), 1u);
  EXPECT_EQ(c->provisionedMacs[0], "00:15:65:aa:bb:cc");
  EXPECT_EQ(c->ipLogRetention, std::chrono::hours(24 * 30));
  EXPECT_EQ(c->cdrRetention, std::chrono::seconds(45));
  EXPECT_EQ(c->storePath, "data/store");
  EXPECT_EQ(errorOf(std::string(kMinimal) + "[store]\ncdr_retention = \"soon\"\n"),
            "test.toml:8: option 'store.cdr_retention': 'soon' is not a duration such as 90d, 12h, 30m or 45s");
  EXPECT_NE(errorOf(std::string(kMinimal) + "[capture]\nprovisioned = [\"nope\"]\n").find("test.toml:8"),
            std::string::npos);
  EXPECT_EQ(c->refreshWriteInterval, std::chrono::seconds(60));  // the default
  EXPECT_EQ(parseConfig(std::string(kMinimal) + "[capture]\nrefresh_write_interval = \"0s\"\n", "c.toml")
                ->refreshWriteInterval,
            std::chrono::seconds(0));  // every refresh written at once
  EXPECT_NE(errorOf(std::string(kMinimal) + "[capture]\nsweep_interval = \"0s\"\n").find("not a duration"),
            std::string::npos);  // zero only where it means something
  EXPECT_NE(errorOf(std::string(kMinimal) + "[capture]\nprovisioned = [\"01:00:5e:00:00:01\"]\n").find("not a MAC"),
            std::string::npos);  // multicast: never one device
  EXPECT_EQ(parseDuration("90d"), std::chrono::seconds(90 * 86400));
  EXPECT_FALSE(parseDuration("-1s"));
  EXPECT_FALSE(parseDuration("1y"));
}
