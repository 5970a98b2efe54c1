// DeviceParser against the shipped conf/devices.tsv (every brand, unknown agents), the table loader's errors,
// and the LRU cache.
#include "capture/device_parser.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

using sipedge::capture::DeviceInfo;
using sipedge::capture::DeviceParser;
using sipedge::capture::DeviceTableError;

namespace {

const std::string kTablePath = std::string(SIPEDGE_SOURCE_DIR) + "/conf/devices.tsv";

const DeviceParser& shippedTable() {
  static const DeviceParser parser = DeviceParser::loadFile(kTablePath);
  return parser;
}

struct Agent {
  const char* ua;
  const char* brand;
  const char* model;
  const char* firmware;
};

// Real agent strings (from vendor documentation, public bug reports and packet captures) or strings in exactly
// their format.
const Agent kAgents[] = {
    // Yealink
    {"Yealink SIP-T46S 66.86.0.15", "Yealink", "T46S", "66.86.0.15"},
    {"Yealink SIP-T54W 96.86.0.100", "Yealink", "T54W", "96.86.0.100"},
    {"Yealink W60B 77.83.0.85", "Yealink", "W60B", "77.83.0.85"},
    {"Yealink SIP-T28P 2.72.14.2 00:15:65:18:72:eb", "Yealink", "T28P", "2.72.14.2"},
    {"Yealink SIP-T22P 7.73.14.2", "Yealink", "T22P", "7.73.14.2"},
    {"Yealink SIP-T21P_E2 52.84.0.140", "Yealink", "T21P_E2", "52.84.0.140"},
    {"Yealink SIP VP-T49G 51.80.0.100", "Yealink", "VP-T49G", "51.80.0.100"},
    {"Yealink SIP-T46U", "Yealink", "T46U", ""},
    // Poly / Polycom
    {"PolycomVVX-VVX_411-UA/6.4.3.5018", "Poly", "VVX 411", "6.4.3.5018"},
    {"PolycomVVX-VVX_150-UA/6.4.1.2280_482567164887", "Poly", "VVX 150", "6.4.1.2280"},
    {"PolycomVVX-VVX_350-UA/5.9.5.0614", "Poly", "VVX 350", "5.9.5.0614"},
    {"PolycomVVX-VVX450-UA/6.4.5.1000", "Poly", "VVX 450", "6.4.5.1000"},
    {"PolycomSoundPointIP-SPIP_550-UA/4.0.15.1009", "Poly", "SoundPoint IP 550", "4.0.15.1009"},
    {"PolycomSoundPointIP SPIP_550 UA 3.3.2.0413", "Poly", "SoundPoint IP 550", "3.3.2.0413"},
    {"PolycomSoundPointIP-SPIP_450-UA/4.0.10.0689_000025CC0001", "Poly", "SoundPoint IP 450", "4.0.10.0689"},
    {"PolycomSoundStationIP-SSIP_6000-UA/4.0.4.2906", "Poly", "SoundStation IP 6000", "4.0.4.2906"},
    {"PolycomRealPresenceTrio-Trio_8800-UA/5.9.0.9373", "Poly", "Trio 8800", "5.9.0.9373"},
    {"Poly/Edge_E450-UA/7.1.0.1234", "Poly", "Edge E450", "7.1.0.1234"},
    {"PolycomCCX-CCX_500-UA/7.1.2.0123", "Poly", "CCX 500", "7.1.2.0123"},
    {"Polycom HDX 8000 HD (Release - 2.5.0.8_ne-4035)", "Poly", "HDX 8000 HD", "2.5.0.8_ne-4035"},
    // Grandstream
    {"Grandstream GXP2170 1.0.11.23", "Grandstream", "GXP2170", "1.0.11.23"},
    {"Grandstream HT801 1.0.27.2", "Grandstream", "HT801", "1.0.27.2"},
    {"Grandstream GRP2614 1.0.5.67", "Grandstream", "GRP2614", "1.0.5.67"},
    {"Grandstream HT-502  V2.0A 1.0.9.1  chip V2.2", "Grandstream", "HT-502", "1.0.9.1"},
    {"Grandstream GXV3175v2 0.0.1.31", "Grandstream", "GXV3175v2", "0.0.1.31"},
    {"Grandstream GXP2140", "Grandstream", "GXP2140", ""},
    {"Grandstream Wave 1.2.14", "Grandstream", "Wave", "1.2.14"},
    // Cisco (and Linksys, its older SPA line)
    {"Cisco/SPA504G-7.6.2", "Cisco", "SPA504G", "7.6.2"},
    {"Cisco-CP8845/14.1.1", "Cisco", "CP-8845", "14.1.1"},
    {"Cisco-SIPGateway/IOS-15.x", "Cisco", "SIP Gateway", "IOS-15.x"},
    {"Cisco-CP-8841-3PCC/11.0 (00562b043615)", "Cisco", "CP-8841-3PCC", "11.0"},
    {"Cisco-CP7960G/8.0", "Cisco", "CP-7960G", "8.0"},
    {"Cisco-CP8865NR/14.2.1", "Cisco", "CP-8865NR", "14.2.1"},
    {"Cisco/SPA112-1.4.1(SR5)", "Cisco", "SPA112", "1.4.1(SR5)"},
    {"Cisco-CUCM11.5", "Cisco", "CUCM", "11.5"},
    {"Linksys/SPA942-6.1.5(a)", "Linksys", "SPA942", "6.1.5(a)"},
    {"Linksys/PAP2T-5.1.6(LS)", "Linksys", "PAP2T", "5.1.6(LS)"},
    {"Linksys/SPA2102-5.2.10", "Linksys", "SPA2102", "5.2.10"},
    // Snom
    {"snom760/10.1.54.13", "Snom", "760", "10.1.54.13"},
    {"snomD785/10.1.39.11", "Snom", "D785", "10.1.39.11"},
    {"snom821/873_19_20130321", "Snom", "821", "873_19_20130321"},
    {"snom105-3.56p", "Snom", "105", "3.56p"},
    {"snomD120/10.1.39.11", "Snom", "D120", "10.1.39.11"},
    {"snom-m3-SIP/02.11//18-Aug-10 15:36", "Snom", "m3", "02.11"},
    // Fanvil
    {"Fanvil X4U 2.12.2.7 0c383e8f1a2b", "Fanvil", "X4U", "2.12.2.7"},
    {"Fanvil X303 2.12.18.9 0c383e63963b", "Fanvil", "X303", "2.12.18.9"},
    {"Fanvil i16SV 2.4.0", "Fanvil", "i16SV", "2.4.0"},
    {"Fanvil X3S", "Fanvil", "X3S", ""},
    // Gigaset
    {"Gigaset N510 IP PRO/42.250.00.000.000", "Gigaset", "N510 IP PRO", "42.250.00.000.000"},
    {"Gigaset N720 DM PRO/70.089.00.000.000", "Gigaset", "N720 DM PRO", "70.089.00.000.000"},
    {"Gigaset C610 IP/42.245.00.000.000", "Gigaset", "C610 IP", "42.245.00.000.000"},
    {"Gigaset C530A", "Gigaset", "C530A", ""},
    // Htek
    {"Htek UC926 2.0.4.4.42", "Htek", "UC926", "2.0.4.4.42"},
    {"Htek UC924E V3.0.4.5", "Htek", "UC924E", "3.0.4.5"},
    {"Htek UC912G 001fc1200b41", "Htek", "UC912G", ""},
    {"Htek UC V20 V5.22.10.25.245 f26dcc142f0d", "Htek", "UC V20", "5.22.10.25.245"},
    // Panasonic
    {"Panasonic_KX-UT670/01.133 (0080f0aabbcc)", "Panasonic", "KX-UT670", "01.133"},
    {"Panasonic_KX-HDV130/02.100 (0080f0123456)", "Panasonic", "KX-HDV130", "02.100"},
    {"Panasonic_KX-TGP600/07.102 (0080f0d1e2f3)", "Panasonic", "KX-TGP600", "07.102"},
    {"Panasonic_KX-UT123NE/01.080 (0080F0C0FFEE)", "Panasonic", "KX-UT123NE", "01.080"},
    // Avaya
    {"Avaya one-X Deskphone", "Avaya", "one-X Deskphone", ""},
    {"Avaya one-X Deskphone 7.1.15.1.3 b4475ea2e9a0", "Avaya", "one-X Deskphone", "7.1.15.1.3"},
    {"AVAYA/J179-4.0.10.3.2", "Avaya", "J179", "4.0.10.3.2"},
    {"Avaya H175 Collaboration Station H1xx_SIP-R1_0_2_3_3050.tar", "Avaya", "H175", "H1xx_SIP-R1_0_2_3_3050"},
    {"Avaya-SM/7.1.3.0", "Avaya", "Session Manager", "7.1.3.0"},
    {"Avaya-CM/8.1", "Avaya", "Communication Manager", "8.1"},
    {"Avaya SIP Softphone", "Avaya", "SIP Softphone", ""},
    // Zoiper
    {"Zoiper rv2.10.20.2", "Zoiper", "Zoiper", "2.10.20.2"},
    {"Z 5.5.13 v2.10.19.5", "Zoiper", "Zoiper 5", "5.5.13"},
    {"Zoiper v2.10.20.4_1", "Zoiper", "Zoiper", "2.10.20.4_1"},
    {"Zoiper rev.5415", "Zoiper", "Zoiper", "rev.5415"},
    {"Zoiper for Windows 2.38 rev.16635", "Zoiper", "Zoiper", "2.38"},
    {"Zoiper/5.5.10", "Zoiper", "Zoiper", "5.5.10"},
    // Linphone
    {"Linphone/5.0.16 (Pixel 6) LinphoneSDK/5.1.64", "Linphone", "Linphone", "5.0.16"},
    {"LinphoneAndroid/4.6.14 (belle-sip/4.4.0)", "Linphone", "Linphone Android", "4.6.14"},
    {"LinphoneiOS/4.5.1 (iPhone de Kijou) LinphoneSDK/5.0.40-pre.2+ea19d3d", "Linphone", "Linphone iOS", "4.5.1"},
    {"Linphone/3.6.1 (eXosip2/4.1.0)", "Linphone", "Linphone", "3.6.1"},
    {"Linphone Desktop/ (Ubuntu 22.04.3 LTS, Qt 5.15.3) LinphoneCore/4.4.21", "Linphone", "Linphone Desktop", ""},
    // MicroSIP
    {"MicroSIP/3.21.3", "MicroSIP", "MicroSIP", "3.21.3"},
    {"MicroSIP/3.19.27", "MicroSIP", "MicroSIP", "3.19.27"},
    {"MicroSIP/3.22.3", "MicroSIP", "MicroSIP", "3.22.3"},
    // CounterPath: Bria / X-Lite / eyeBeam
    {"Bria 6 release 6.5.5 stamp 108923", "CounterPath", "Bria 6", "6.5.5"},
    {"X-Lite release 5.8.3 stamp 102651", "CounterPath", "X-Lite", "5.8.3"},
    {"Bria iOS release 6.9.1 stamp 112233", "CounterPath", "Bria iOS", "6.9.1"},
    {"Bria iOS release 3.9.5 stamp 38501.38502", "CounterPath", "Bria iOS", "3.9.5"},
    {"Bria 3 release 3.5.5 stamp 71243", "CounterPath", "Bria 3", "3.5.5"},
    {"Bria iOS 3.1.1", "CounterPath", "Bria iOS", "3.1.1"},
    {"eyeBeam release 1104g stamp 54685", "CounterPath", "eyeBeam", "1104g"},
    // Acrobits
    {"Groundwire/7.4.2 (build 1234; iOS 16.1)", "Acrobits", "Groundwire", "7.4.2"},
    {"Acrobits Softphone/6.5.3 (build 5678; Android 13)", "Acrobits", "Acrobits Softphone", "6.5.3"},
    {"Acrobits SIPIS", "Acrobits", "SIPIS", ""},
    {"Cloud Softphone/2.8.1 (build 2410; iOS 17.0)", "Acrobits", "Cloud Softphone", "2.8.1"},
    // baresip
    {"baresip v1.0.0 (x86_64/Linux)", "baresip", "baresip", "1.0.0"},
    {"baresip v0.5.5 (mips/linux)", "baresip", "baresip", "0.5.5"},
    {"baresip v3.10.1 (x86_64/Linux)", "baresip", "baresip", "3.10.1"},
    // PJSIP and PJSIP-based
    {"PJSUA v2.12 Linux-5.15/x86_64/glibc-2.35", "PJSIP", "PJSUA", "2.12"},
    {"PJSUA v2.12 Darwin-19.5/x86_64", "PJSIP", "PJSUA", "2.12"},
    {"PJSUA v2.10-dev Linux-4.19/armv7l/glibc-2.28", "PJSIP", "PJSUA", "2.10-dev"},
    {"Telephone 1.5 (PJSIP 2.13)", "PJSIP", "Telephone", "1.5"},
    {"SIPPhone/0.9 pjsip-2.14", "PJSIP", "SIPPhone", "0.9"},
    // Asterisk (and FreePBX on it)
    {"Asterisk PBX 18.15.0", "Asterisk", "Asterisk PBX", "18.15.0"},
    {"FPBX-16.0.33(18.15.0)", "Asterisk", "FreePBX 16.0.33", "18.15.0"},
    {"Asterisk PBX certified/18.9-cert4", "Asterisk", "Asterisk PBX", "certified/18.9-cert4"},
    {"Asterisk PBX 1.6.0.26-FONCORE-r78", "Asterisk", "Asterisk PBX", "1.6.0.26-FONCORE-r78"},
    // FreeSWITCH
    {"FreeSWITCH-mod_sofia/1.10.9-release~64bit", "FreeSWITCH", "FreeSWITCH", "1.10.9-release"},
    {"FreeSWITCH-mod_sofia/1.6.20~64bit", "FreeSWITCH", "FreeSWITCH", "1.6.20"},
    {"FreeSWITCH-mod_sofia/1.10.12-release+git~20240802T210227Z~a88d069d6f~64bit", "FreeSWITCH", "FreeSWITCH",
     "1.10.12-release+git"},
    // Kamailio / OpenSIPS / OpenSER
    {"kamailio (5.7.4 (x86_64/linux))", "Kamailio", "Kamailio", "5.7.4"},
    {"Kamailio (1.5.3-notls (i386/linux))", "Kamailio", "Kamailio", "1.5.3-notls"},
    {"kamailio (4.0.1 (sparc/solaris))", "Kamailio", "Kamailio", "4.0.1"},
    {"OpenSIPS (3.2.5 (x86_64/linux))", "OpenSIPS", "OpenSIPS", "3.2.5"},
    {"OpenSIPS (2.4.11 (x86_64/linux))", "OpenSIPS", "OpenSIPS", "2.4.11"},
    {"OpenSIPS (3.4.0-dev (x86_64/linux))", "OpenSIPS", "OpenSIPS", "3.4.0-dev"},
    {"OpenSER (1.3.4-notls (i386/linux))", "OpenSER", "OpenSER", "1.3.4-notls"},
    {"OpenSER (1.2.2-tls (i386/linux))", "OpenSER", "OpenSER", "1.2.2-tls"},
    {"OpenSER (1.1.0-notls (x86_64/linux))", "OpenSER", "OpenSER", "1.1.0-notls"},
    // Net::SIP
    {"Net::SIP/0.835", "Net::SIP", "Net::SIP", "0.835"},
    {"perl Net::SIP 0.83", "Net::SIP", "Net::SIP", "0.83"},
    {"Net::SIP", "Net::SIP", "Net::SIP", ""},
};

class KnownAgent : public testing::TestWithParam<Agent> {};

TEST_P(KnownAgent, ParsesBrandModelFirmware) {
  const Agent& a = GetParam();
  DeviceInfo d = shippedTable().parse(a.ua);
  EXPECT_EQ(d.brand, a.brand) << a.ua;
  EXPECT_EQ(d.model, a.model) << a.ua;
  EXPECT_EQ(d.firmware, a.firmware) << a.ua;
  EXPECT_TRUE(d.known());
}

std::string agentName(const testing::TestParamInfo<Agent>& info) {
  std::string name = std::to_string(info.index) + "_";
  for (const char* p = info.param.brand; *p; ++p)
    if (std::isalnum(static_cast<unsigned char>(*p))) name.push_back(*p);
  return name;
}

INSTANTIATE_TEST_SUITE_P(ShippedTable, KnownAgent, testing::ValuesIn(kAgents), agentName);

TEST(DeviceTable, EveryRequiredBrandHasAtLeastThreeExamples) {
  std::map<std::string, int> perBrand;
  for (const auto& a : kAgents) ++perBrand[a.brand];
  for (const char* brand :
       {"Yealink",   "Poly",     "Grandstream", "Cisco",    "Snom",     "Fanvil",      "Gigaset",  "Htek",
        "Panasonic", "Avaya",    "Zoiper",      "Linphone", "MicroSIP", "CounterPath", "Acrobits", "baresip",
        "PJSIP",     "Asterisk", "FreeSWITCH",  "Kamailio", "OpenSIPS", "Net::SIP"}) {
    EXPECT_GE(perBrand[brand], 3) << brand;
  }
}

TEST(DeviceTable, EveryBrandInTheTableIsTested) {
  std::ifstream in(kTablePath);
  std::set<std::string> tableBrands;
  std::string line;
  bool header = false;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (!header) {
      header = true;
      continue;
    }
    tableBrands.insert(line.substr(0, line.find('\t')));
  }
  std::set<std::string> tested;
  for (const auto& a : kAgents) tested.insert(a.brand);
  for (const auto& b : tableBrands) EXPECT_TRUE(tested.count(b)) << "no test for brand " << b;
}

TEST(DeviceTable, ShippedTableLoads) {
  EXPECT_GE(shippedTable().ruleCount(), 50u);
  EXPECT_EQ(shippedTable().cacheCapacity(), DeviceParser::kDefaultCacheEntries);
}

TEST(DeviceParser, UnknownAgentsAreUnknown) {
  for (const char* ua : {"friendly-scanner", "sipvicious", "Mozilla/5.0 (X11; Linux x86_64)", "VaxSIPUserAgent/3.1",
                         "Zoipe 1.0", "Z 5.5", "Yea link T46S", "MyApp (pjsiplite 1.0)", "sipcli/v1.8", "-", "12345"}) {
    DeviceInfo d = shippedTable().parse(ua);
    EXPECT_EQ(d.brand, "unknown") << ua << " matched line " << d.ruleLine;
    EXPECT_EQ(d.model, "") << ua;
    EXPECT_EQ(d.firmware, "") << ua;
    EXPECT_FALSE(d.known());
  }
}

TEST(DeviceParser, EmptyAndBlankAgentsAreUnknown) {
  EXPECT_EQ(shippedTable().parse("").brand, "unknown");
  EXPECT_EQ(shippedTable().parse(" \t \r\n").brand, "unknown");
}

TEST(DeviceParser, SurroundingBlanksAreIgnored) {
  DeviceInfo d = shippedTable().parse("  Yealink SIP-T46S 66.86.0.15\r\n");
  EXPECT_EQ(d.brand, "Yealink");
  EXPECT_EQ(d.firmware, "66.86.0.15");
}

TEST(DeviceParser, HostileLongAgentIsBoundedAndStillParsed) {
  std::string ua = "Yealink SIP-T46S 66.86.0.15 " + std::string(200000, 'a');
  DeviceInfo d = shippedTable().parse(ua);
  EXPECT_EQ(d.brand, "Yealink");
  EXPECT_EQ(d.model, "T46S");
  std::string junk(100000, '(');
  EXPECT_EQ(shippedTable().parse(junk).brand, "unknown");
  std::string binary;
  for (int i = 0; i < 1000; ++i) binary.push_back(static_cast<char>(i * 37));
  EXPECT_NO_THROW(shippedTable().parse(binary));
}

// --- The format, through small tables -------------------------------------------------------------------------

const char* kHeaderLine = "brand\tpattern\tmodel\tfirmware\n";

std::string errorOf(const std::string& text) {
  try {
    DeviceParser::fromText(text, "t.tsv");
  } catch (const DeviceTableError& e) {
    return e.what();
  }
  return "";
}

unsigned errorLine(const std::string& text) {
  try {
    DeviceParser::fromText(text, "t.tsv");
  } catch (const DeviceTableError& e) {
    return e.line();
  }
  return 0;
}

TEST(DeviceTableFormat, TemplatesGroupsLiteralsAndDashes) {
  auto p = DeviceParser::fromText(std::string(kHeaderLine) +
                                      "Acme\t^Acme (\\w+)/(\\S+)\tPhone $1\tv$2 (US$$)\n"
                                      "Other\t^Other\t-\t-\n",
                                  "t.tsv");
  EXPECT_EQ(p.ruleCount(), 2u);
  DeviceInfo d = p.parse("Acme X1/2.0");
  EXPECT_EQ(d.brand, "Acme");
  EXPECT_EQ(d.model, "Phone X1");
  EXPECT_EQ(d.firmware, "v2.0 (US$)");
  EXPECT_EQ(d.ruleLine, 2u);
  d = p.parse("Other thing");
  EXPECT_EQ(d.brand, "Other");
  EXPECT_EQ(d.model, "");
  EXPECT_EQ(d.firmware, "");
  EXPECT_EQ(d.ruleLine, 3u);
}

TEST(DeviceTableFormat, UnmatchedOptionalGroupIsEmptyAndBlanksCollapse) {
  auto p = DeviceParser::fromText(std::string(kHeaderLine) + "Acme\t^Acme(?: (\\d+))?(.*)$\t $1  x $2 \t$1\n", "t");
  DeviceInfo d = p.parse("Acme");
  EXPECT_EQ(d.model, "x");
  EXPECT_EQ(d.firmware, "");
  d = p.parse("Acme 7   tail\tend");
  EXPECT_EQ(d.model, "7 x tail end");
  EXPECT_EQ(d.firmware, "7");
}

TEST(DeviceTableFormat, FirstMatchWins) {
  auto p = DeviceParser::fromText(std::string(kHeaderLine) + "First\tAcme\t-\t-\nSecond\t^Acme X\t-\t-\n", "t");
  EXPECT_EQ(p.parse("Acme X").brand, "First");
}

TEST(DeviceTableFormat, CaseSensitivityIsOptIn) {
  auto p =
      DeviceParser::fromText(std::string(kHeaderLine) + "Exact\t^acme\t-\t-\nAny\t(?i)^ACME ([A-Z]+)\t$1\t-\n", "t");
  EXPECT_EQ(p.parse("acme").brand, "Exact");
  DeviceInfo d = p.parse("Acme phone");
  EXPECT_EQ(d.brand, "Any");
  EXPECT_EQ(d.model, "phone");  // as written in the agent
}

TEST(DeviceTableFormat, UnanchoredPatternsSearchAnywhere) {
  auto p = DeviceParser::fromText(std::string(kHeaderLine) + "Lib\tlibfoo/(\\d+)\tApp\t$1\n", "t");
  EXPECT_EQ(p.parse("SomeApp 1.0 libfoo/42").firmware, "42");
}

// The parser skips rules cheaply by the literal text after '^' and searches anchored rules at the start only;
// neither shortcut may change what the regular expression itself would match.
TEST(DeviceTableFormat, ShortcutsNeverChangeTheMeaning) {
  auto p = DeviceParser::fromText(std::string(kHeaderLine) +
                                      "Alt\t^Foo|Bar\t-\t-\n"       // top-level '|': "Bar" may be anywhere
                                      "Opt\t^Acme ?X\t-\t-\n"       // the space is optional
                                      "Rep\t^Qu{0,2}ux\t-\t-\n"     // so is every 'u'
                                      "Case\t(?i)^Zeta\t-\t-\n"     // prefix compared without case
                                      "Grp\t^(?:Foo|Baz)Q\t-\t-\n"  // '|' inside a group keeps the anchor
                                      "Any\t\\bLibx?Q\t-\t-\n"      // needle "Lib", anywhere
                                      "Look\t(?i)^(?=.*\\bPJ\\b)(\\w+)\t$1\t-\n"  // needle "PJ" from the look-ahead
                                      "LookAlt\t^(?=.*Kk|Mm)(\\w+)\t$1\t-\n",     // alternatives: no needle
                                  "t");
  EXPECT_EQ(p.parse("some LibQ").brand, "Any");
  EXPECT_EQ(p.parse("some LibxQ").brand, "Any");
  EXPECT_EQ(p.parse("some xLibQ").brand, "unknown");  // \b still applies
  DeviceInfo d = p.parse("App 1.0 (pj 2.1)");
  EXPECT_EQ(d.brand, "Look");
  EXPECT_EQ(d.model, "App");
  d = p.parse("Mmm");  // matches the look-ahead's second branch, which has no "Kk"
  EXPECT_EQ(d.brand, "LookAlt");
  EXPECT_EQ(d.model, "Mmm");
  EXPECT_EQ(p.parse("xx Bar").brand, "Alt");
  EXPECT_EQ(p.parse("Foo").brand, "Alt");
  EXPECT_EQ(p.parse("AcmeX").brand, "Opt");
  EXPECT_EQ(p.parse("Acme X").brand, "Opt");
  EXPECT_EQ(p.parse("Qux").brand, "Rep");
  EXPECT_EQ(p.parse("Quux").brand, "Rep");
  EXPECT_EQ(p.parse("ZETA 1").brand, "Case");
  EXPECT_EQ(p.parse("BazQ").brand, "Grp");
  EXPECT_EQ(p.parse("x BazQ").brand, "unknown");
  EXPECT_EQ(p.parse("Acm").brand, "unknown");  // shorter than the prefix
}

TEST(DeviceTableFormat, CommentsBlankLinesAndCrlf) {
  auto p = DeviceParser::fromText(
      "# a comment\r\n\r\n   # indented comment\r\nbrand\tpattern\tmodel\tfirmware\r\n"
      "\r\nAcme\t^Acme (\\S+)$\t$1\t-\r\n# trailing\r\n",
      "t");
  EXPECT_EQ(p.ruleCount(), 1u);
  DeviceInfo d = p.parse("Acme X1");
  EXPECT_EQ(d.model, "X1");  // the CR is not part of the pattern
  EXPECT_EQ(d.ruleLine, 6u);
}

TEST(DeviceTableFormat, HeaderOnlyTableLoadsAndKnowsNothing) {
  auto p = DeviceParser::fromText(kHeaderLine, "t");
  EXPECT_EQ(p.ruleCount(), 0u);
  EXPECT_EQ(p.parse("Yealink SIP-T46S 66.86.0.15").brand, "unknown");
}

TEST(DeviceTableErrors, MissingOrWrongHeader) {
  EXPECT_EQ(errorOf(""), "t.tsv: no header line (empty device table)");
  EXPECT_EQ(errorOf("# only\n\n# comments\n"), "t.tsv: no header line (empty device table)");
  EXPECT_NE(
      errorOf("# c\nAcme\t^Acme\t-\t-\n").find("t.tsv:2: the first line that is not a comment must be the header"),
      std::string::npos);
  EXPECT_NE(errorOf("brand pattern model firmware\n").find("t.tsv:1: "), std::string::npos);
}

TEST(DeviceTableErrors, BadRegexNamesFileAndLine) {
  const std::string t = std::string(kHeaderLine) + "Good\t^Good\t-\t-\n# comment\nBad\t^Bad (unclosed\t-\t-\n";
  const std::string e = errorOf(t);
  EXPECT_EQ(e.rfind("t.tsv:4: bad regular expression \"^Bad (unclosed\": ", 0), 0u) << e;
  EXPECT_EQ(errorLine(t), 4u);
  EXPECT_NE(errorOf(std::string(kHeaderLine) + "Bad\t[a-\t-\t-\n").find("t.tsv:2: bad regular expression"),
            std::string::npos);
  EXPECT_NE(errorOf(std::string(kHeaderLine) + "Bad\t(?i)a{2,1}\t-\t-\n").find("t.tsv:2: bad regular expression"),
            std::string::npos);
}

TEST(DeviceTableErrors, WrongFieldCount) {
  EXPECT_EQ(errorOf(std::string(kHeaderLine) + "Acme\t^Acme\t-\n"),
            "t.tsv:2: expected 4 TAB-separated fields (brand, pattern, model, firmware), found 3");
  EXPECT_EQ(errorOf(std::string(kHeaderLine) + "Acme\t^Acme\t-\t-\textra\n"),
            "t.tsv:2: expected 4 TAB-separated fields (brand, pattern, model, firmware), found 5");
  // Spaces instead of tabs are a common editor accident.
  EXPECT_NE(errorOf(std::string(kHeaderLine) + "Acme    ^Acme    -    -\n").find("t.tsv:2: expected 4"),
            std::string::npos);
}

TEST(DeviceTableErrors, EmptyBrandOrPattern) {
  EXPECT_EQ(errorOf(std::string(kHeaderLine) + " \t^Acme\t-\t-\n"), "t.tsv:2: brand is empty");
  EXPECT_EQ(errorOf(std::string(kHeaderLine) + "Acme\t\t-\t-\n"), "t.tsv:2: pattern is empty");
  EXPECT_EQ(errorOf(std::string(kHeaderLine) + "Acme\t(?i)\t-\t-\n"), "t.tsv:2: pattern is empty");
}

TEST(DeviceTableErrors, TemplateReferencesAreChecked) {
  EXPECT_EQ(errorOf(std::string(kHeaderLine) + "Acme\t^Acme (\\d+)\t$2\t-\n"),
            "t.tsv:2: model refers to $2 but the pattern has 1 capture group");
  EXPECT_EQ(errorOf(std::string(kHeaderLine) + "Acme\t^Acme\t-\t$1\n"),
            "t.tsv:2: firmware refers to $1 but the pattern has 0 capture groups");
  EXPECT_EQ(errorOf(std::string(kHeaderLine) + "Acme\t^Acme (\\d+)\t$x\t-\n"),
            "t.tsv:2: model '$x' is not $1..$9 or $$");
  EXPECT_EQ(errorOf(std::string(kHeaderLine) + "Acme\t^Acme (\\d+)\t-\tv$\n"),
            "t.tsv:2: firmware '$' at the end; write '$$' for a literal dollar");
  EXPECT_EQ(errorOf(std::string(kHeaderLine) + "Acme\t^Acme (\\d+)\t$0\t-\n"),
            "t.tsv:2: model '$0' is not $1..$9 or $$");
}

TEST(DeviceTableErrors, LineNumbersCountCommentsAndBlankLines) {
  const std::string t = "# 1\n\nbrand\tpattern\tmodel\tfirmware\n# 4\n\nA\t^A\t-\t-\n\n\nB\t^B\t$1\t-\n";
  EXPECT_EQ(errorLine(t), 9u);
  EXPECT_EQ(errorOf(t), "t.tsv:9: model refers to $1 but the pattern has 0 capture groups");
}

TEST(DeviceTableErrors, LoadFileNamesThePath) {
  const std::string missing = testing::TempDir() + "/no-such-devices.tsv";
  try {
    DeviceParser::loadFile(missing);
    FAIL() << "expected DeviceTableError";
  } catch (const DeviceTableError& e) {
    EXPECT_EQ(std::string(e.what()), missing + ": cannot open device table");
  }
  const std::string bad = testing::TempDir() + "/bad-devices.tsv";
  {
    std::ofstream out(bad);
    out << kHeaderLine << "Acme\t^Acme(\t-\t-\n";
  }
  try {
    DeviceParser::loadFile(bad);
    FAIL() << "expected DeviceTableError";
  } catch (const DeviceTableError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(bad + ":2: bad regular expression", 0), 0u) << e.what();
    EXPECT_EQ(e.line(), 2u);
  }
  std::remove(bad.c_str());
}

// --- Cache ------------------------------------------------------------------------------------------------------

DeviceParser smallTable(std::size_t cacheEntries) {
  return DeviceParser::fromText(std::string(kHeaderLine) + "Acme\t^Acme (\\w+)\t$1\t-\n", "t", cacheEntries);
}

TEST(DeviceParserCache, RepeatedAgentIsServedFromCache) {
  auto p = smallTable(16);
  DeviceInfo first = p.parse("Acme A");
  DeviceInfo again = p.parse("Acme A");
  DeviceInfo blanks = p.parse("  Acme A \r\n");  // same key after trimming
  EXPECT_EQ(again.model, first.model);
  EXPECT_EQ(blanks.model, first.model);
  EXPECT_EQ(again.ruleLine, first.ruleLine);
  auto s = p.stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.evictions, 0u);
}

TEST(DeviceParserCache, UnknownAgentsAreCachedToo) {
  auto p = smallTable(16);
  EXPECT_EQ(p.parse("scanner").brand, "unknown");
  EXPECT_EQ(p.parse("scanner").brand, "unknown");
  EXPECT_EQ(p.stats().hits, 1u);
}

TEST(DeviceParserCache, LeastRecentlyUsedIsEvictedAtCapacity) {
  auto p = smallTable(2);
  p.parse("Acme A");
  p.parse("Acme B");
  p.parse("Acme A");  // hit: A is now the most recent
  p.parse("Acme C");  // evicts B
  auto s = p.stats();
  EXPECT_EQ(s.entries, 2u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.hits, 1u);
  p.parse("Acme A");  // still cached
  EXPECT_EQ(p.stats().hits, 2u);
  EXPECT_EQ(p.parse("Acme B").model, "B");  // was evicted: parsed again, correctly
  s = p.stats();
  EXPECT_EQ(s.misses, 4u);
  EXPECT_EQ(s.evictions, 2u);  // C went (A was used more recently)
  EXPECT_EQ(s.entries, 2u);
}

TEST(DeviceParserCache, ManyDistinctAgentsStayWithinCap) {
  auto p = smallTable(64);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(p.parse("Acme m" + std::to_string(i)).model, "m" + std::to_string(i));
  auto s = p.stats();
  EXPECT_EQ(s.entries, 64u);
  EXPECT_EQ(s.evictions, 1000u - 64u);
}

TEST(DeviceParserCache, CapacityZeroDisablesCaching) {
  auto p = smallTable(0);
  EXPECT_EQ(p.cacheCapacity(), 0u);
  p.parse("Acme A");
  p.parse("Acme A");
  auto s = p.stats();
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.entries, 0u);
}

TEST(DeviceParserCache, CachedAndUncachedAgree) {
  auto uncached = DeviceParser::loadFile(kTablePath, 0);
  for (const auto& a : kAgents) {
    DeviceInfo c1 = shippedTable().parse(a.ua);
    DeviceInfo c2 = shippedTable().parse(a.ua);
    DeviceInfo u = uncached.parse(a.ua);
    EXPECT_EQ(c1.brand, u.brand);
    EXPECT_EQ(c2.model, u.model);
    EXPECT_EQ(c2.firmware, u.firmware);
  }
}

TEST(DeviceParserCache, ConcurrentParsesAreConsistent) {
  auto p = DeviceParser::loadFile(kTablePath, 8);  // tiny cache: constant eviction under contention
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&p, &wrong, t] {
      for (int round = 0; round < 20; ++round) {
        for (std::size_t i = t; i < std::size(kAgents); i += 3) {
          DeviceInfo d = p.parse(kAgents[i].ua);
          if (d.brand != kAgents[i].brand || d.model != kAgents[i].model) ++wrong;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  auto s = p.stats();
  EXPECT_LE(s.entries, 8u);
}

TEST(DeviceParserCache, MovedParserKeepsWorking) {
  auto p = smallTable(4);
  p.parse("Acme A");
  DeviceParser q = std::move(p);
  EXPECT_EQ(q.parse("Acme A").model, "A");
  EXPECT_EQ(q.stats().hits, 1u);
}

}  // namespace
