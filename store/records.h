// Plain value records: what capture hands to the store and what the store returns. No pointers into SIP
// messages, no sofia types: these cross threads (worker → writer) by value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sipedge::store {

using Millis = std::int64_t;  // milliseconds since the Unix epoch (UTC)

// One user's registration from one source address. A new (user, ip) pair is a new row with event "new-ip";
// repeats update lastSeen and count.
struct IpLogEntry {
  std::string tenant;  // domain of the AOR
  std::string user;    // AOR user part (the subject of the data)
  std::string ip;      // source address as seen by sipedge
  std::uint16_t port = 0;
  std::string transport;  // "udp" / "tcp" / "tls"
  Millis firstSeen = 0;
  Millis lastSeen = 0;
  std::uint32_t count = 0;
  std::string event;     // "new-ip", "register", "unregister", "expired"
  std::string hostname;  // reverse DNS, when enrichment is on
  std::string region;    // MaxMind, when configured
  std::string isp;
};

// A device while it is registered (privacy promise P2: deleted on unregister or expiry unless provisioned).
struct DeviceRecord {
  std::string tenant;
  std::string user;
  std::string instance;   // +sip.instance URN if given, else the Contact URI: identifies the device
  std::string userAgent;  // raw User-Agent string
  std::string brand;      // "Yealink", … or "unknown"
  std::string model;
  std::string firmware;
  std::string mac;  // normalised "aa:bb:cc:dd:ee:ff", or ""
  std::string ip;
  std::uint16_t port = 0;
  std::string transport;
  Millis firstSeen = 0;
  Millis lastSeen = 0;
  Millis expiresAt = 0;  // registration expiry; the sweeper deletes unprovisioned devices past it
};

// A device an operator provisioned by MAC: its DeviceRecord survives unregister and expiry.
struct ProvisionedDevice {
  std::string mac;  // normalised, the key
  std::string tenant;
  std::string user;
  std::string model;
  Millis addedAt = 0;
};

enum class Disposition : std::uint8_t { Answered, NoAnswer, Busy, Failed, Cancelled, TimedOut };

struct CdrRecord {
  std::string uniqueId;  // globally unique, the key with tenant and start
  std::string tenant;
  std::string user;         // whose view it belongs to (the calling or called account)
  std::string callerId;     // caller ID presented
  std::string source;       // calling number / user
  std::string destination;  // called number / user
  std::string context;      // zone/route: "access->core", "core->carrier", …
  std::string srcChannel;   // "udp:1.2.3.4:5060"
  std::string dstChannel;
  std::string lastApp;       // last method seen ("INVITE", "BYE", "CANCEL")
  std::string lastData;      // final status ("200", "486", …)
  Millis start = 0;          // INVITE seen
  Millis answer = 0;         // 2xx seen, 0 if never
  Millis end = 0;            // BYE / final failure / timeout
  std::int64_t billsec = 0;  // whole seconds answered
  Disposition disposition = Disposition::Failed;
  bool hiddenByUser = false;  // the user hid it from their own view; operators still see it
  bool legalHold = false;     // billing record kept past erasure and past the retention window
};

struct AuditRecord {
  Millis time = 0;
  std::string actor;      // "operator", "user:alice@example.com", "system"
  std::string operation;  // "erase-user", "export-user", "hide-cdr", "provision-add", …
  std::string target;     // what it acted on
  std::string result;     // "ok" or the error
};

std::string dispositionName(Disposition d);  // "ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CANCELLED", "TIMEOUT"

}  // namespace sipedge::store
