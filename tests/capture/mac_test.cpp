// MAC extraction: every source (instance URN, User-Agent, Contact parameters), every spelling, every rejection.
#include "capture/mac.h"

#include <gtest/gtest.h>

#include <string>

using namespace sipedge::capture;

namespace {

// --- normaliseMac -------------------------------------------------------------------------------------------------

TEST(NormaliseMac, AcceptedSpellings) {
  EXPECT_EQ(normaliseMac("001565aabbcc"), "00:15:65:aa:bb:cc");
  EXPECT_EQ(normaliseMac("001565AABBCC"), "00:15:65:aa:bb:cc");
  EXPECT_EQ(normaliseMac("00:15:65:AA:BB:CC"), "00:15:65:aa:bb:cc");
  EXPECT_EQ(normaliseMac("00-15-65-aa-bb-cc"), "00:15:65:aa:bb:cc");
  EXPECT_EQ(normaliseMac("0015.65aa.bbcc"), "00:15:65:aa:bb:cc");            // Cisco
  EXPECT_EQ(normaliseMac("  0c:38:3e:63:96:3b \r\n"), "0c:38:3e:63:96:3b");  // Fanvil "Mac:" header value
  EXPECT_EQ(normaliseMac("000413924E28"), "00:04:13:92:4e:28");              // snom X-Serialnumber is the MAC
}

TEST(NormaliseMac, LocallyAdministeredIsStillAMac) {
  // Only the probabilistic sources (instance, UA) insist on universally administered addresses.
  EXPECT_EQ(normaliseMac("aa:bb:cc:dd:ee:ff"), "aa:bb:cc:dd:ee:ff");
  EXPECT_EQ(normaliseMac("02:00:00:00:00:01"), "02:00:00:00:00:01");
}

TEST(NormaliseMac, RejectsZeroBroadcastAndMulticast) {
  EXPECT_EQ(normaliseMac("000000000000"), "");
  EXPECT_EQ(normaliseMac("00:00:00:00:00:00"), "");
  EXPECT_EQ(normaliseMac("ff:ff:ff:ff:ff:ff"), "");
  EXPECT_EQ(normaliseMac("FFFFFFFFFFFF"), "");
  EXPECT_EQ(normaliseMac("01:00:5e:00:00:fb"), "");  // IPv4 multicast
  EXPECT_EQ(normaliseMac("33:33:00:00:00:01"), "");  // IPv6 multicast
  EXPECT_EQ(normaliseMac("01:80:c2:00:00:0e"), "");  // LLDP
  EXPECT_EQ(normaliseMac("0d383e8f1a2b"), "");       // I/G bit set on an otherwise ordinary value
}

TEST(NormaliseMac, RejectsMalformed) {
  for (const char* s :
       {"", " ", "001565aabbc", "001565aabbccd", "00:15:65:aa:bb", "00:15:65:aa:bb:cc:dd", "00:15-65:aa:bb:cc",
        "00.15.65.aa.bb.cc", "0:15:65:aa:bb:cc", "0g1565aabbcc", "00:15:65:aa:bb:c", "00 15 65 aa bb cc",
        "0015:65aa:bbcc", "001565aabbcc!", "<001565aabbcc>", "00:15:65:aa:bb:cc:"}) {
    EXPECT_EQ(normaliseMac(s), "") << '"' << s << '"';
  }
}

// --- macFromInstance --------------------------------------------------------------------------------------------

TEST(MacFromInstance, TimeBasedUuidsFromPhones) {
  // Grandstream HT-502 (from a Kamailio bug report), Yealink, Poly: all-zero time, version 1, RFC variant.
  EXPECT_EQ(macFromInstance("+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000B82566BBB>\""), "00:0b:82:56:6b:bb");
  EXPECT_EQ(macFromInstance("\"<urn:uuid:00000000-0000-1000-8000-001565AABBCC>\""), "00:15:65:aa:bb:cc");
  EXPECT_EQ(macFromInstance("<urn:uuid:00000000-0000-1000-8000-0004f2a1b2c3>"), "00:04:f2:a1:b2:c3");
  EXPECT_EQ(macFromInstance("urn:uuid:00000000-0000-1000-8000-482567164887"), "48:25:67:16:48:87");
  // RFC 5626's example and RFC 4122's own v1 example (real timestamp, real node).
  EXPECT_EQ(macFromInstance("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"), "00:0a:95:a0:e1:28");
  EXPECT_EQ(macFromInstance("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"), "00:a0:c9:1e:6b:f6");
}

TEST(MacFromInstance, AllRfcVariantDigitsAndAnyCase) {
  EXPECT_EQ(macFromInstance("URN:UUID:00000000-0000-1000-9000-001565aabbcc"), "00:15:65:aa:bb:cc");
  EXPECT_EQ(macFromInstance("urn:uuid:00000000-0000-1000-a000-001565aabbcc"), "00:15:65:aa:bb:cc");
  EXPECT_EQ(macFromInstance("urn:uuid:00000000-0000-1000-B000-001565aabbcc"), "00:15:65:aa:bb:cc");
}

TEST(MacFromInstance, BareUuidAndWholeContact) {
  EXPECT_EQ(macFromInstance("00000000-0000-1000-8000-000B82566BBB"), "00:0b:82:56:6b:bb");
  EXPECT_EQ(macFromInstance("  <00000000-0000-1000-8000-000B82566BBB>  "), "00:0b:82:56:6b:bb");
  EXPECT_EQ(macFromInstance("<sip:7777@172.17.0.252:5060>;reg-id=1;"
                            "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000B82566BBB>\""),
            "00:0b:82:56:6b:bb");
}

TEST(MacFromInstance, RandomUuidV4IsNotAMac) {
  EXPECT_EQ(macFromInstance("<urn:uuid:952688D1-D96F-4DEE-B285-52391C59367B>"), "");
  EXPECT_EQ(macFromInstance("<urn:uuid:f402ede7-9815-42d5-b0c5-66d7dabf93ba>"), "");  // Linphone
  EXPECT_EQ(macFromInstance("<urn:uuid:00000000-0000-4000-8000-001565aabbcc>"), "");  // v4 even with a MAC-like tail
  EXPECT_EQ(macFromInstance("952688D1-D96F-4DEE-B285-52391C59367B"), "");
}

TEST(MacFromInstance, OtherVersionsAndVariantsAreRejected) {
  // PJSUA's default instance: version 0, node = a hash of the host name.
  EXPECT_EQ(macFromInstance("<urn:uuid:00000000-0000-0000-0000-0000CCDDEEFF>"), "");
  EXPECT_EQ(macFromInstance("urn:uuid:00000000-0000-3000-8000-001565aabbcc"), "");  // v3 (MD5 name)
  EXPECT_EQ(macFromInstance("urn:uuid:00000000-0000-5000-8000-001565aabbcc"), "");  // v5 (SHA-1 name)
  EXPECT_EQ(macFromInstance("urn:uuid:00000000-0000-6000-8000-001565aabbcc"), "");  // v6 (reordered time)
  EXPECT_EQ(macFromInstance("urn:uuid:00000000-0000-1000-0000-001565aabbcc"), "");  // NCS variant
  EXPECT_EQ(macFromInstance("urn:uuid:00000000-0000-1000-c000-001565aabbcc"), "");  // Microsoft variant
  EXPECT_EQ(macFromInstance("urn:uuid:00000000-0000-1000-e000-001565aabbcc"), "");  // reserved variant
}

TEST(MacFromInstance, RandomOrLocalNodeInV1IsRejected) {
  // RFC 4122 §4.5: a v1 UUID with a random node sets the multicast bit.
  EXPECT_EQ(macFromInstance("urn:uuid:e3a1c2d0-5b4f-11ee-8c99-0342ac120002"), "");
  EXPECT_EQ(macFromInstance("urn:uuid:e3a1c2d0-5b4f-11ee-8c99-ffffffffffff"), "");  // broadcast
  EXPECT_EQ(macFromInstance("urn:uuid:00000000-0000-1000-8000-000000000000"), "");  // zero
  // Locally administered: generated, not burned in (this rejects the "AABBCCDDEEFF" placeholder too).
  EXPECT_EQ(macFromInstance("urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF"), "");
  EXPECT_EQ(macFromInstance("urn:uuid:e3a1c2d0-5b4f-11ee-8c99-0242ac120002"), "");  // a Docker MAC
}

TEST(MacFromInstance, MalformedUuids) {
  for (const char* s :
       {"", "urn:uuid:", "urn:uuid:00000000-0000-1000-8000-000B82566BB",
        "urn:uuid:00000000-0000-1000-8000-000B82566BBB1", "urn:uuid:00000000000010008000000B82566BBB",
        "urn:uuid:00000000-0000-1000-8000_000B82566BBB", "urn:uuid:0000000-00000-1000-8000-000B82566BBB",
        "urn:uuid:00000000-0000-1000-8000-000B82566BBG", "urn:gsma:imei:35209900-176148-1",
        "00000000-0000-1000-8000-000B82566BBB-x", "uuid:00000000-0000-1000-8000-000B82566BBB"}) {
    // The last: without "urn:" it is not the URN and not a bare UUID either.
    EXPECT_EQ(macFromInstance(s), "") << s;
  }
}

TEST(MacFromInstance, FirstAcceptableOfSeveralWins) {
  EXPECT_EQ(macFromInstance("urn:uuid:952688D1-D96F-4DEE-B285-52391C59367B "
                            "urn:uuid:00000000-0000-1000-8000-000B82566BBB "
                            "urn:uuid:00000000-0000-1000-8000-001565aabbcc"),
            "00:0b:82:56:6b:bb");
}

// --- macFromUserAgent -------------------------------------------------------------------------------------------

TEST(MacFromUserAgent, VendorFormats) {
  EXPECT_EQ(macFromUserAgent("Fanvil X4U 2.12.2.7 0c383e8f1a2b"), "0c:38:3e:8f:1a:2b");
  EXPECT_EQ(macFromUserAgent("Fanvil X303 2.12.18.9 0c383e63963b"), "0c:38:3e:63:96:3b");
  EXPECT_EQ(macFromUserAgent("Panasonic_KX-UT670/01.133 (0080f0aabbcc)"), "00:80:f0:aa:bb:cc");
  EXPECT_EQ(macFromUserAgent("Panasonic_KX-UT123NE/01.080 (0080F0C0FFEE)"), "00:80:f0:c0:ff:ee");
  EXPECT_EQ(macFromUserAgent("Yealink SIP-T28P 2.72.14.2 00:15:65:18:72:eb"), "00:15:65:18:72:eb");
  EXPECT_EQ(macFromUserAgent("Yealink SIP-T46S 66.86.0.15 805ec0aabbcc"), "80:5e:c0:aa:bb:cc");
  EXPECT_EQ(macFromUserAgent("Yealink SIP-T46S 66.86.0.15/ 805ec0aabbcc"), "80:5e:c0:aa:bb:cc");
  EXPECT_EQ(macFromUserAgent("PolycomVVX-VVX_150-UA/6.4.1.2280_482567164887"), "48:25:67:16:48:87");
  EXPECT_EQ(macFromUserAgent("Cisco-CP-8841-3PCC/11.0 (00562b043615)"), "00:56:2b:04:36:15");
  EXPECT_EQ(macFromUserAgent("Avaya one-X Deskphone 7.1.15.1.3 b4475ea2e9a0"), "b4:47:5e:a2:e9:a0");
  EXPECT_EQ(macFromUserAgent("Htek UC912G 001fc1200b41"), "00:1f:c1:20:0b:41");
  EXPECT_EQ(macFromUserAgent("Acme 1.0 [00-15-65-18-72-EB]"), "00:15:65:18:72:eb");
}

TEST(MacFromUserAgent, NoMacInOrdinaryAgents) {
  for (const char* ua :
       {"Yealink SIP-T46S 66.86.0.15", "PolycomVVX-VVX_411-UA/6.4.3.5018", "Bria iOS release 3.9.5 stamp 38501.38502",
        "Zoiper for Windows 2.38 rev.16635", "LinphoneiOS/4.5.1 (iPhone de Kijou) LinphoneSDK/5.0.40-pre.2+ea19d3d",
        "snom821/873_19_20130321", "Gigaset N510 IP PRO/42.250.00.000.000", ""}) {
    EXPECT_EQ(macFromUserAgent(ua), "") << ua;
  }
}

TEST(MacFromUserAgent, HexRunsJoinedToVersionsOrHashesAreNotMacs) {
  EXPECT_EQ(macFromUserAgent("FreeSWITCH-mod_sofia/1.10.12-release+git~20240802T210227Z~a88d069d6f12~64bit"), "");
  EXPECT_EQ(macFromUserAgent("Asterisk PBX GIT-master-abc123def456"), "");
  EXPECT_EQ(macFromUserAgent("Acme/001565aabbcc"), "");  // a version slot
  EXPECT_EQ(macFromUserAgent("Acme 1.0.001565aabbcc"), "");
  EXPECT_EQ(macFromUserAgent("Acme 0015651872eb1"), "");           // 13 digits
  EXPECT_EQ(macFromUserAgent("Acme 0015651872e"), "");             // 11 digits
  EXPECT_EQ(macFromUserAgent("Acme x001565aabbcc"), "");           // part of a longer word
  EXPECT_EQ(macFromUserAgent("Acme fe80::15:65:18:72:eb:1"), "");  // colon groups inside an IPv6 address
  EXPECT_EQ(macFromUserAgent("Acme 00:15:65:18:72:eb:01"), "");
}

TEST(MacFromUserAgent, RejectsZeroBroadcastMulticastAndLocal) {
  EXPECT_EQ(macFromUserAgent("Fanvil X4U 2.12.2.7 000000000000"), "");
  EXPECT_EQ(macFromUserAgent("Acme ff:ff:ff:ff:ff:ff"), "");
  EXPECT_EQ(macFromUserAgent("Fanvil X4U 2.12.2.7 0d383e8f1a2b"), "");          // multicast
  EXPECT_EQ(macFromUserAgent("Htek UC V20 V5.22.10.25.245 f26dcc142f0d"), "");  // locally administered
  // A rejected candidate does not hide a good one later in the string.
  EXPECT_EQ(macFromUserAgent("Acme f26dcc142f0d 001fc1200b41"), "00:1f:c1:20:0b:41");
}

// --- macFromContactParams ---------------------------------------------------------------------------------------

TEST(MacFromContactParams, ExplicitMacParameters) {
  EXPECT_EQ(macFromContactParams("<sip:100@10.0.0.5:5060;mac=001565AABBCC>"), "00:15:65:aa:bb:cc");
  EXPECT_EQ(macFromContactParams("<sip:100@10.0.0.5>;x-mac=\"00:15:65:aa:bb:cc\";expires=3600"), "00:15:65:aa:bb:cc");
  EXPECT_EQ(macFromContactParams("<sip:100@10.0.0.5>;X_MAC=00-15-65-aa-bb-cc"), "00:15:65:aa:bb:cc");
  EXPECT_EQ(macFromContactParams("<sip:100@10.0.0.5>;MAC = 0015.65aa.bbcc"), "00:15:65:aa:bb:cc");
  // Explicitly labelled: a locally administered address is taken as given.
  EXPECT_EQ(macFromContactParams("<sip:100@10.0.0.5>;mac=02:00:00:00:00:01"), "02:00:00:00:00:01");
}

TEST(MacFromContactParams, InstanceAndGruu) {
  EXPECT_EQ(macFromContactParams("<sip:7777@172.17.0.252:5060>;reg-id=1;"
                                 "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000B82566BBB>\""),
            "00:0b:82:56:6b:bb");
  EXPECT_EQ(macFromContactParams("<sip:alice@example.com;gr=urn:uuid:00000000-0000-1000-8000-0004f2a1b2c3>"),
            "00:04:f2:a1:b2:c3");
  EXPECT_EQ(macFromContactParams("<sip:alice@example.com;GR=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>"),
            "00:a0:c9:1e:6b:f6");
  // A GRUU from a random v4 instance reveals nothing.
  EXPECT_EQ(macFromContactParams("<sip:alice@example.com;gr=urn:uuid:f402ede7-9815-42d5-b0c5-66d7dabf93ba>"), "");
  EXPECT_EQ(macFromContactParams("<sip:a@b>;+sip.instance=\"<urn:uuid:952688D1-D96F-4DEE-B285-52391C59367B>\""), "");
}

TEST(MacFromContactParams, ExplicitMacWinsOverInstance) {
  EXPECT_EQ(macFromContactParams("<sip:a@b>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000B82566BBB>\";"
                                 "mac=001565aabbcc"),
            "00:15:65:aa:bb:cc");
  // ...unless it is unusable, then the instance still counts.
  EXPECT_EQ(macFromContactParams("<sip:a@b>;mac=000000000000;"
                                 "+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000B82566BBB>\""),
            "00:0b:82:56:6b:bb");
}

TEST(MacFromContactParams, RejectionsAndNonMatches) {
  EXPECT_EQ(macFromContactParams(""), "");
  EXPECT_EQ(macFromContactParams("<sip:100@10.0.0.5:5060>;expires=3600"), "");
  EXPECT_EQ(macFromContactParams("<sip:100@10.0.0.5>;mac=ff:ff:ff:ff:ff:ff"), "");
  EXPECT_EQ(macFromContactParams("<sip:100@10.0.0.5>;mac=01:00:5e:00:00:01"), "");
  EXPECT_EQ(macFromContactParams("<sip:100@10.0.0.5>;mac=00:00:00:00:00:00"), "");
  EXPECT_EQ(macFromContactParams("<sip:100@10.0.0.5>;mac=nonsense"), "");
  EXPECT_EQ(macFromContactParams("<sip:100@10.0.0.5>;mac"), "");
  EXPECT_EQ(macFromContactParams("<sip:100@10.0.0.5>;mac="), "");
  EXPECT_EQ(macFromContactParams("<sip:100@10.0.0.5>;macaddr=001565aabbcc"), "");  // not a name we know
  EXPECT_EQ(macFromContactParams("<sip:001565aabbcc@10.0.0.5>"), "");              // user part: not a parameter
  // A parameter quoted inside another parameter's value is not a parameter.
  EXPECT_EQ(macFromContactParams("<sip:100@10.0.0.5>;description=\"x;mac=001565aabbcc\""), "");
}

}  // namespace
