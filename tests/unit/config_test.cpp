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
  EXPECT_EQ(errorOf(std::string(kMinimal) + "[server]\nworker = 2\n"), "test.toml:8: option 'server.worker': unknown option");
  EXPECT_EQ(errorOf(std::string(kMinimal) + "[server]\nlog_level = \"loud\"\n"),
            "test.toml:8: option 'server.log_level': must be one of error, warn, info, debug");
  EXPECT_NE(errorOf("[[listen]]\ntransport = \"sctp\"\naddress = \"127.0.0.1\"\n").find("test.toml:2: option 'listen.transport'"),
            std::string::npos);
  EXPECT_NE(errorOf("[[listen]]\ntransport = \"udp\"\naddress = \"localhost\"\n").find("not a numeric"), std::string::npos);
  EXPECT_NE(errorOf("[[listen]]\ntransport = \"udp\"\naddress = \"127.0.0.1\"\n").find("pbx.targets"), std::string::npos);
  EXPECT_NE(errorOf(std::string(kMinimal) + "[[carrier]]\nname = \"x\"\ntarget = \"udp:nowhere:1\"\n").find("test.toml:9"),
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
