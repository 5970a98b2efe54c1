// MAC addresses that SIP phones reveal about themselves (instance URN, User-Agent, Contact parameters), found
// and normalised to "aa:bb:cc:dd:ee:ff". Pure functions on borrowed text; they never throw and never allocate
// beyond the returned string. "" means "no MAC here" (or one we refuse, see the rules below).
//
// Rules every function applies (normaliseMac):
//   - accepted spellings: aabbccddeeff, aa:bb:cc:dd:ee:ff, aa-bb-cc-dd-ee-ff (one separator throughout),
//     aabb.ccdd.eeff (Cisco); any case; surrounding blanks ignored;
//   - rejected: all-zero, broadcast (ff:ff:ff:ff:ff:ff) and any multicast address (I/G bit, 0x01 of the first
//     octet, set).
// Extra rule for the sources where the value is only *probably* a MAC (instance URN, hex runs in User-Agent):
//   - the address must be universally administered (U/L bit, 0x02 of the first octet, clear). A burned-in
//     phone MAC always is; random node IDs and generated serials usually are not.
#pragma once

#include <string>
#include <string_view>

namespace sipedge::capture {

// One MAC written on its own (a header value such as Fanvil's "Mac:" or snom's "X-Serialnumber:").
std::string normaliseMac(std::string_view text);

// The node field of a time-based UUID in "urn:uuid:…" (RFC 4122), as Yealink, Poly and Grandstream put into
// +sip.instance: "<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>". Accepts the bare UUID, the URN, the quoted
// and bracketed parameter value, or a whole Contact value (every urn:uuid in it is tried, first acceptable wins).
// Only version-1 UUIDs (third group starts with '1') with the RFC 4122 variant (fourth group starts with 8, 9, a
// or b) qualify: a v4 UUID is random and its last 12 digits mean nothing. A v1 UUID whose node is random must have
// the multicast bit set (RFC 4122 §4.5), so the multicast and locally-administered rules reject those too.
std::string macFromInstance(std::string_view text);

// A MAC embedded in a User-Agent / Server string: "Fanvil X4U 2.12.2.7 0c383e8f1a2b",
// "Panasonic_KX-UT670/01.133 (0080f0aabbcc)", "PolycomVVX-VVX_150-UA/6.4.1.2280_482567164887",
// "Yealink SIP-T28P 2.72.14.2 00:15:65:18:72:eb". Separated forms are taken anywhere; a bare run of 12 hex
// digits only when it stands alone as a word (after start, blank, '(', '[', '_', ',', ';' or '='; before end,
// blank, ')', ']', ',' or ';'), so versions, dates and git hashes joined by '.', '-', '/' or '~' are not taken.
std::string macFromUserAgent(std::string_view userAgent);

// A MAC from Contact parameters (URI or header parameters, names case-insensitive): ";mac=", ";x-mac=",
// ";x_mac=", then ";+sip.instance=" and ";gr=" (an RFC 5627 GRUU carries the instance URN, so it follows the
// instance rules). Explicitly labelled mac values follow normaliseMac only.
std::string macFromContactParams(std::string_view contact);

}  // namespace sipedge::capture
