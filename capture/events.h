// What the capture tap copies off the forwarding path: plain values only, so they can cross from a worker to
// the writer thread. The writer turns them into store records (and parses User-Agents there, not inline).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "store/records.h"

namespace sipedge::capture {

using store::Millis;

// One Contact binding the PBX accepted (recorded when the PBX answers the REGISTER with 2xx).
struct RegistrationEvent {
  Millis time = 0;
  std::string tenant;         // AOR domain (To host)
  std::string user;           // AOR user (To user)
  std::string contact;        // Contact URI
  std::string instance;       // +sip.instance value, or ""
  std::string contactParams;  // the Contact header's parameters as text (MAC hints)
  std::string userAgent;
  std::string srcIp;
  std::uint16_t srcPort = 0;
  std::string transport;
  std::int64_t expires = 0;  // seconds granted; 0 = this binding was removed
  bool wildcard = false;     // "Contact: *" with Expires: 0: every binding of the AOR removed
};

struct CdrEvent {
  store::CdrRecord cdr;
};

using CaptureEvent = std::variant<RegistrationEvent, CdrEvent>;

}  // namespace sipedge::capture
