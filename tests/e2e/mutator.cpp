#include "mutator.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>

namespace sipedge::test {

namespace {

std::uint64_t splitmix(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

// A message cut into its header lines and body. `framed` is false when there is no empty line.
struct Parts {
  std::vector<std::string> lines;  // lines[0] is the start line
  std::string body;
  bool framed = false;
};

Parts split(const std::string& m) {
  Parts p;
  std::size_t he = m.find("\r\n\r\n");
  std::string head = m.substr(0, he);
  if (he != std::string::npos) {
    p.framed = true;
    p.body = m.substr(he + 4);
  }
  std::size_t pos = 0;
  while (true) {
    std::size_t e = head.find("\r\n", pos);
    p.lines.push_back(head.substr(pos, e == std::string::npos ? std::string::npos : e - pos));
    if (e == std::string::npos) break;
    pos = e + 2;
  }
  return p;
}

std::string join(const Parts& p) {
  std::string out;
  for (std::size_t i = 0; i < p.lines.size(); ++i) {
    if (i) out += "\r\n";
    out += p.lines[i];
  }
  if (p.framed) out += "\r\n\r\n" + p.body;
  return out;
}

std::string lower(std::string_view s) {
  std::string o(s);
  for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

// Header name of a line ("" for the start line or a line without a colon), lower case, trailing blanks cut.
std::string nameOf(const std::string& line) {
  auto c = line.find(':');
  if (c == std::string::npos) return "";
  std::string n = lower(line.substr(0, c));
  while (!n.empty() && (n.back() == ' ' || n.back() == '\t')) n.pop_back();
  return n;
}

bool isName(const std::string& line, std::string_view full, std::string_view compact) {
  auto n = nameOf(line);
  return n == full || (!compact.empty() && n == compact);
}

// Index of the first header line named `full`/`compact`, or 0 (the start line) if none.
std::size_t findHeader(const Parts& p, std::string_view full, std::string_view compact) {
  for (std::size_t i = 1; i < p.lines.size(); ++i)
    if (isName(p.lines[i], full, compact)) return i;
  return 0;
}

std::size_t randomHeaderIndex(const Parts& p, FuzzRng& rng) {
  return p.lines.size() > 1 ? 1 + rng.below(p.lines.size() - 1) : 0;
}

const std::vector<std::string>& interestingTokens() {
  static const std::vector<std::string> t = {"\r\n",
                                             "\r",
                                             "\n",
                                             std::string(1, '\0'),
                                             "\t",
                                             " ",
                                             ",",
                                             ";",
                                             ":",
                                             "<",
                                             ">",
                                             "\"",
                                             "\\",
                                             "%",
                                             "%00",
                                             "%zz",
                                             "@",
                                             "[",
                                             "]",
                                             "::",
                                             "sip:",
                                             "sips:",
                                             "tel:",
                                             ";lr",
                                             ";branch=",
                                             ";rport",
                                             ";received=",
                                             ";maddr=",
                                             "=",
                                             "\r\n ",
                                             "\r\n\t",
                                             "\r\n\r\n",
                                             "SIP/2.0",
                                             "z9hG4bK",
                                             "z9hG4bKse",
                                             "4294967296",
                                             "18446744073709551616",
                                             "-1",
                                             "0",
                                             "65536",
                                             "99999999999999999999",
                                             "\xff\xfe",
                                             "\xc0\x80",
                                             "\xe2\x80\xa8",
                                             "\x7f",
                                             "\x1b[2J",
                                             "$(id)",
                                             "%n%n%n%s",
                                             "../../",
                                             "Via: SIP/2.0/UDP 127.0.0.3:9;branch=z9hG4bKinj\r\n",
                                             "Content-Length: 0\r\n\r\n",
                                             "\r\nContent-Length: 5\r\n\r\nhello"};
  return t;
}

}  // namespace

// ---------------------------------------------------------------- FuzzRng

FuzzRng::FuzzRng(std::uint64_t seed) {
  for (auto& s : s_) s = splitmix(seed);
}

std::uint64_t FuzzRng::next() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::size_t FuzzRng::below(std::size_t n) {
  return n == 0 ? 0 : static_cast<std::size_t>(next() % n);
}

std::size_t FuzzRng::range(std::size_t lo, std::size_t hi) {
  return hi <= lo ? lo : lo + below(hi - lo + 1);
}

// ---------------------------------------------------------------- seeds

std::vector<std::string> fuzzSeeds(const FuzzTargets& t) {
  const std::string& tr = t.transport;
  const std::string via = "Via: SIP/2.0/" + tr + " " + t.phone + ";branch=z9hG4bKfz";
  const std::string common =
      "From: \"Alice\" <sip:alice@example.com>;tag=fa1\r\n"
      "To: <sip:bob@example.com>\r\n";
  std::vector<std::string> s;
  const std::string sdp =
      "v=0\r\no=alice 2890844526 2890844526 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
      "m=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
      "a=fmtp:101 0-15\r\na=sendrecv\r\n";
  s.push_back("INVITE sip:bob@example.com SIP/2.0\r\n" + via + "inv1;rport\r\nMax-Forwards: 70\r\n" + common +
              "Call-ID: fz-invite@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@" + t.phone +
              ">\r\nAllow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\nSupported: timer, 100rel\r\n"
              "User-Agent: fuzz/1.0\r\nContent-Type: application/sdp\r\nContent-Length: " +
              std::to_string(sdp.size()) + "\r\n\r\n" + sdp);
  s.push_back("REGISTER sip:example.com SIP/2.0\r\n" + via +
              "reg1;rport\r\nMax-Forwards: 70\r\n"
              "From: <sip:alice@example.com>;tag=fr1\r\nTo: <sip:alice@example.com>\r\n"
              "Call-ID: fz-register@127.0.0.1\r\nCSeq: 7 REGISTER\r\nContact: <sip:alice@" +
              t.phone + ";transport=" + lower(tr) +
              ">;expires=3600;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-"
              "000A95A0E128>\"\r\nSupported: path, outbound\r\nExpires: 3600\r\n"
              "Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"abc\", "
              "uri=\"sip:example.com\", response=\"0123456789abcdef0123456789abcdef\"\r\nContent-Length: 0\r\n\r\n");
  s.push_back(
      "OPTIONS sip:bob@example.com SIP/2.0\r\n" + via + "opt1;rport\r\nMax-Forwards: 70\r\n" + common +
      "Call-ID: fz-options@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nAccept: application/sdp\r\nContent-Length: 0\r\n\r\n");
  s.push_back("OPTIONS sip:" + t.edge + " SIP/2.0\r\n" + via + "opt2;rport\r\nMax-Forwards: 70\r\n" + common +
              "Call-ID: fz-options-local@127.0.0.1\r\nCSeq: 2 OPTIONS\r\nContent-Length: 0\r\n\r\n");
  s.push_back("BYE sip:bob@" + t.pbx + " SIP/2.0\r\n" + via +
              "bye1;rport\r\nMax-Forwards: 70\r\n"
              "Route: <sip:" +
              t.edge +
              ";lr>\r\n"
              "From: \"Alice\" <sip:alice@example.com>;tag=fa1\r\nTo: <sip:bob@example.com>;tag=tb1\r\n"
              "Call-ID: fz-invite@127.0.0.1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n");
  s.push_back("ACK sip:bob@example.com SIP/2.0\r\n" + via +
              "ack1\r\nMax-Forwards: 70\r\n"
              "From: \"Alice\" <sip:alice@example.com>;tag=fa1\r\nTo: <sip:bob@example.com>;tag=tb1\r\n"
              "Call-ID: fz-invite@127.0.0.1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n");
  s.push_back("CANCEL sip:bob@example.com SIP/2.0\r\n" + via + "inv1;rport\r\nMax-Forwards: 70\r\n" + common +
              "Call-ID: fz-invite@127.0.0.1\r\nCSeq: 1 CANCEL\r\nContent-Length: 0\r\n\r\n");
  // A 200 whose top Via looks like one sipedge wrote (prefix, worker 00, socket 00): it reaches response routing.
  s.push_back("SIP/2.0 200 OK\r\nVia: SIP/2.0/" + tr + " " + t.edge +
              ";branch=z9hG4bKse00000123456789abcdef01234567\r\n" + via +
              "inv1;rport=5060;received=127.0.0.1\r\n"
              "Record-Route: <sip:" +
              t.edge +
              ";lr>\r\n"
              "From: \"Alice\" <sip:alice@example.com>;tag=fa1\r\nTo: <sip:bob@example.com>;tag=tb1\r\n"
              "Call-ID: fz-invite@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@" +
              t.pbx + ">\r\nContent-Type: application/sdp\r\nContent-Length: " + std::to_string(sdp.size()) +
              "\r\n\r\n" + sdp);
  s.push_back("SIP/2.0 180 Ringing\r\n" + via + "inv1;rport\r\n" + common +
              "Call-ID: fz-invite@127.0.0.1\r\n"
              "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
  // Compact forms and several Vias, some in one comma-separated header (RFC 3261 §7.3.3, §20).
  const std::string text = "Watson, come here.";
  s.push_back("MESSAGE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/" + tr + " " + t.phone +
              ";branch=z9hG4bKfzmsg1;rport\r\nv: SIP/2.0/UDP 127.0.0.10:5060;branch=z9hG4bKup1;received=127.0.0.10, "
              "SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bKup2\r\nMax-Forwards: 70\r\n"
              "f: <sip:alice@example.com>;tag=fm1\r\nt: <sip:bob@example.com>\r\ni: fz-message@127.0.0.1\r\n"
              "CSeq: 5 MESSAGE\r\nm: <sip:alice@" +
              t.phone + ">\r\nk: path\r\ns: hello\r\nc: text/plain\r\nl: " + std::to_string(text.size()) + "\r\n\r\n" +
              text);
  // RFC 5118 style IPv6 literals in the Request-URI, Contact and a second Via.
  s.push_back("INVITE sip:bob@[2001:db8::10]:5070 SIP/2.0\r\n" + via +
              "v6a;rport\r\n"
              "Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKv6b;received=[2001:db8::1]\r\nMax-Forwards: 70\r\n" +
              common +
              "Call-ID: fz-v6@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@[2001:db8::1]>\r\n"
              "Content-Length: 0\r\n\r\n");
  s.push_back("SUBSCRIBE sip:bob@example.com SIP/2.0\r\n" + via + "sub1;rport\r\nMax-Forwards: 70\r\n" + common +
              "Call-ID: fz-sub@127.0.0.1\r\nCSeq: 1 SUBSCRIBE\r\nEvent: presence\r\nExpires: 600\r\n"
              "Contact: <sip:alice@" +
              t.phone + ">\r\nContent-Length: 0\r\n\r\n");
  const std::string ruri = "sip:bob@example.com SIP/2.0\r\n";
  for (auto& m : s) {
    auto at = m.find(ruri);
    if (at != std::string::npos && at < m.find("\r\n"))
      m.replace(at, ruri.size(), "sip:bob@" + t.callee + " SIP/2.0\r\n");
  }
  return s;
}

// ---------------------------------------------------------------- Mutator

std::string_view mutationName(Mutation m) {
  static constexpr std::array<std::string_view, static_cast<std::size_t>(Mutation::kCount)> names = {
      "bit-flip",       "byte-insert",  "byte-delete",  "truncate",      "duplicate-header",
      "remove-header",  "huge-value",   "long-line",    "nul-byte",      "bare-cr-lf",
      "content-length", "random-name",  "random-bytes", "long-via-list", "deep-route-set",
      "weird-uri",      "ipv6-literal", "folding",      "swap-lines",    "splice",
      "max-forwards",   "via-params",   "start-line",   "cseq",          "token"};
  auto i = static_cast<std::size_t>(m);
  return i < names.size() ? names[i] : "?";
}

Mutator::Mutator(FuzzTargets t, std::uint64_t seed, std::size_t maxSize)
    : t_(std::move(t)), seed_(seed), maxSize_(maxSize), seeds_(fuzzSeeds(t_)) {}

FuzzRng Mutator::rngFor(std::uint64_t index, std::uint64_t stream) const {
  std::uint64_t x = seed_ ^ (index * 0x9e3779b97f4a7c15ULL) ^ (stream << 56);
  return FuzzRng(splitmix(x));
}

std::string Mutator::make(std::uint64_t index, std::string* applied) const {
  FuzzRng rng = rngFor(index);
  const std::string& base = rng.pick(seeds_);
  if (rng.chance(4)) {
    if (applied) *applied = "none";
    return base;
  }
  return mutate(base, rng, applied);
}

std::string Mutator::mutate(const std::string& msg, FuzzRng& rng, std::string* applied) const {
  std::string out = msg;
  // Mostly one or two mutations: more than that and nearly everything is rejected at the first check.
  std::size_t n = rng.chance(55) ? 1 : rng.range(2, 4);
  if (applied) applied->clear();
  for (std::size_t i = 0; i < n; ++i) {
    auto m = static_cast<Mutation>(rng.below(static_cast<std::size_t>(Mutation::kCount)));
    out = apply(m, out, rng);
    if (applied) {
      if (!applied->empty()) *applied += ",";
      *applied += mutationName(m);
    }
  }
  if (out.size() > maxSize_) out.resize(maxSize_);
  return out;
}

std::string Mutator::fill(FuzzRng& rng, std::size_t n) const {
  static const std::string alphabets[] = {
      "a", "abcdefghijklmnopqrstuvwxyz0123456789", ",", ";", " ", "%", "<>\"\\", "a;b=c,", "\t ", "9"};
  const std::string& a = alphabets[rng.below(std::size(alphabets))];
  std::string s;
  s.reserve(n);
  for (std::size_t i = 0; i < n; ++i) s += a[i % a.size()];
  return s;
}

std::string Mutator::ipv6Host(FuzzRng& rng) const {
  static const std::vector<std::string> hosts = {"[::1]",
                                                 "[2001:db8::1]",
                                                 "[::ffff:127.0.0.1]",
                                                 "[fe80::1%25lo]",
                                                 "[fe80::1%lo]",
                                                 "[:::]",
                                                 "[2001:db8::1",
                                                 "2001:db8::1]",
                                                 "::1",
                                                 "[1:2:3:4:5:6:7:8:9]",
                                                 "[]",
                                                 "[::ffff:300.0.0.1]",
                                                 "[2001:DB8:0:0:0:0:0:1]",
                                                 "[0:0:0:0:0:0:0:0]",
                                                 "[::1]:0",
                                                 "[::1]:65536",
                                                 "[::1]:99999999999",
                                                 "[v1.fe80::a+en1]",
                                                 "[2001:db8::10]:5070",
                                                 "[::127.0.0.1]"};
  return rng.pick(hosts);
}

std::string Mutator::weirdUri(FuzzRng& rng) const {
  std::vector<std::string> u = {
      "sip:",
      "sip:@",
      "sip:bob@",
      "sip:@127.0.0.3",
      "sips:bob@127.0.0.3:5061;transport=tcp",
      "tel:+1-555-0100;phone-context=example.com",
      "tel:",
      "http://example.com/",
      "urn:service:sos",
      "*",
      "sip:bob@256.256.256.256",
      "sip:bob@127.0.0.3:0",
      "sip:bob@127.0.0.3:-1",
      "sip:bob@127.0.0.3:65536",
      "sip:bob@127.0.0.3:99999999999999999999",
      "sip:%00@127.0.0.3",
      "sip:b%zzob@example.com",
      "sip:bob@example.com;lr;lr;lr=;=;;",
      "sip:bob@example.com;transport=sctp",
      "sip:bob@example.com;transport=",
      "sip:bob@example.com;maddr=127.0.0.2",
      "sip:bob@example.com?Route=%3Csip:127.0.0.3%3E&Via=x",
      "sip:bob:secret@example.com",
      "sip:bob@" + ipv6Host(rng),
      "sip:bob@" + t_.edge + ";lr",
      "sip:" + t_.edge,
      "sip:" + t_.pbx + ";lr",
      "sip:" + std::string(rng.range(256, 4000), 'b') + "@example.com",
      "sip:bob@" + std::string(rng.range(64, 2000), 'x') + ".com",
      "sip:bob@example.com;" + std::string(rng.range(64, 2000), 'p') + "=1",
      "sip:bob@exa mple.com",
      "sip:bob@example.com:5060:5060",
      "SIP:BOB@EXAMPLE.COM",
      "sip:+15550100;user=phone@example.com",
      "<sip:bob@example.com>",
      "sip:bob@example.com>",
      "sip:\"bob\"@example.com",
      "sip:bob@127.0.0.1.",
      "sip:bob@0x7f.1",
  };
  return rng.pick(u);
}

std::string Mutator::apply(Mutation m, const std::string& msg, FuzzRng& rng) const {
  std::string s = msg;
  switch (m) {
    case Mutation::BitFlip: {
      if (s.empty()) return s;
      for (std::size_t n = rng.range(1, 8); n > 0; --n) s[rng.below(s.size())] ^= static_cast<char>(1u << rng.below(8));
      return s;
    }
    case Mutation::ByteInsert: {
      std::string ins;
      for (std::size_t n = rng.range(1, 16); n > 0; --n) ins += static_cast<char>(rng.below(256));
      s.insert(rng.below(s.size() + 1), ins);
      return s;
    }
    case Mutation::ByteDelete: {
      if (s.empty()) return s;
      std::size_t at = rng.below(s.size());
      s.erase(at, rng.range(1, 32));
      return s;
    }
    case Mutation::Truncate: {
      if (s.empty()) return s;
      std::size_t he = s.find("\r\n\r\n");
      // Near the end of the header block, where framing decisions are made, half of the time.
      if (he != std::string::npos && rng.chance(50)) {
        std::size_t lo = he > 8 ? he - 8 : 0;
        s.resize(std::min(s.size(), rng.range(lo, he + 4)));
      } else {
        s.resize(rng.below(s.size()));
      }
      return s;
    }
    case Mutation::DuplicateHeader: {
      Parts p = split(s);
      std::size_t i = randomHeaderIndex(p, rng);
      if (!i) return s;
      std::string line = p.lines[i];
      std::size_t copies = rng.chance(70) ? 1 : rng.range(2, 200);
      std::size_t at = rng.chance(50) ? i : 1 + rng.below(p.lines.size() - 1);
      p.lines.insert(p.lines.begin() + static_cast<std::ptrdiff_t>(at), copies, line);
      return join(p);
    }
    case Mutation::RemoveHeader: {
      Parts p = split(s);
      static const std::vector<std::pair<std::string, std::string>> mandatory = {
          {"via", "v"},         {"from", "f"},           {"to", "t"},          {"call-id", "i"}, {"cseq", ""},
          {"max-forwards", ""}, {"content-length", "l"}, {"content-type", "c"}};
      std::size_t i = 0;
      if (rng.chance(60)) {
        auto& [full, compact] = rng.pick(mandatory);
        i = findHeader(p, full, compact);
      }
      if (!i) i = randomHeaderIndex(p, rng);
      if (!i) return s;
      p.lines.erase(p.lines.begin() + static_cast<std::ptrdiff_t>(i));
      return join(p);
    }
    case Mutation::HugeHeaderValue: {
      Parts p = split(s);
      std::size_t i = randomHeaderIndex(p, rng);
      if (!i) return s;
      // Under the 16 KiB header limit (sofia parses it) or far over it (sipedge must refuse before parsing).
      std::size_t n = rng.chance(60) ? rng.range(1000, 15000) : rng.range(16000, 60000);
      p.lines[i] += fill(rng, n);
      return join(p);
    }
    case Mutation::LongLine: {
      Parts p = split(s);
      std::size_t n = rng.chance(60) ? rng.range(2000, 15000) : rng.range(16000, 60000);
      switch (rng.below(3)) {
        case 0: {  // a long Request-URI or reason phrase
          p.lines[0] += fill(rng, n);
          break;
        }
        case 1: {  // a long extension header
          std::size_t at = p.lines.size() > 1 ? 1 + rng.below(p.lines.size() - 1) : p.lines.size();
          p.lines.insert(p.lines.begin() + static_cast<std::ptrdiff_t>(at), "X-Long: " + fill(rng, n));
          break;
        }
        default: {  // a long header name
          std::size_t at = p.lines.size() > 1 ? 1 + rng.below(p.lines.size() - 1) : p.lines.size();
          p.lines.insert(p.lines.begin() + static_cast<std::ptrdiff_t>(at), "X-" + std::string(n, 'N') + ": v");
          break;
        }
      }
      return join(p);
    }
    case Mutation::NulByte: {
      std::size_t he = s.find("\r\n\r\n");
      std::size_t limit = he != std::string::npos && rng.chance(70) ? he : s.size();
      std::size_t at = rng.below(limit + 1);
      if (rng.chance(50) && at < s.size())
        s[at] = '\0';
      else
        s.insert(at, std::string(rng.range(1, 4), '\0'));
      return s;
    }
    case Mutation::BareCrLf: {
      std::size_t he = s.find("\r\n\r\n");
      switch (rng.below(4)) {
        case 0: {  // every line ends in LF only
          std::string o;
          for (std::size_t i = 0; i < s.size(); ++i)
            if (!(s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n')) o += s[i];
          return o;
        }
        case 1: {  // one CRLF becomes LF or CR
          std::vector<std::size_t> at;
          for (std::size_t i = 0; i + 1 < s.size() && i < he; ++i)
            if (s[i] == '\r' && s[i + 1] == '\n') at.push_back(i);
          if (at.empty()) return s;
          std::size_t i = rng.pick(at);
          if (rng.chance(50))
            s.erase(i, 1);
          else
            s.erase(i + 1, 1);
          return s;
        }
        case 2: {  // a bare LF inside a header value: "X: a\nVia: injected"
          std::size_t limit = he == std::string::npos ? s.size() : he;
          s.insert(rng.below(limit + 1), rng.chance(50) ? "\nVia: SIP/2.0/UDP 127.0.0.3:9;branch=z9hG4bKlf" : "\n");
          return s;
        }
        default: {  // a bare CR
          std::size_t limit = he == std::string::npos ? s.size() : he;
          s.insert(rng.below(limit + 1), rng.chance(50) ? "\rVia: SIP/2.0/UDP 127.0.0.3:9;branch=z9hG4bKcr" : "\r");
          return s;
        }
      }
    }
    case Mutation::ContentLength: {
      Parts p = split(s);
      std::size_t bl = p.body.size();
      std::vector<std::string> values = {"-1",
                                         "0",
                                         "-0",
                                         "+5",
                                         "abc",
                                         "1e3",
                                         "0x10",
                                         " 12 ",
                                         "4294967296",
                                         "4294967295",
                                         "18446744073709551615",
                                         "99999999999999999999999999",
                                         "00000000000000000000012",
                                         std::to_string(bl + 1),
                                         std::to_string(bl > 0 ? bl - 1 : 0),
                                         std::to_string(bl + rng.range(2, 70000)),
                                         "",
                                         "1 2",
                                         "5,5"};
      std::string v = rng.pick(values);
      std::size_t i = findHeader(p, "content-length", "l");
      switch (rng.below(4)) {
        case 0:  // remove
          if (i) p.lines.erase(p.lines.begin() + static_cast<std::ptrdiff_t>(i));
          break;
        case 1:  // a second, different one
          p.lines.insert(p.lines.begin() + static_cast<std::ptrdiff_t>(i ? i : p.lines.size()),
                         (rng.chance(50) ? "l: " : "Content-Length: ") + v);
          break;
        default:
          if (i)
            p.lines[i] = (rng.chance(80) ? "Content-Length: " : "l:") + v;
          else
            p.lines.push_back("Content-Length: " + v);
      }
      return join(p);
    }
    case Mutation::RandomHeaderName: {
      Parts p = split(s);
      std::string name;
      switch (rng.below(5)) {
        case 0:
          name = "";
          break;
        case 1:
          name = "Via ";
          break;
        case 2:
          name = std::string(rng.range(1, 3000), 'H');
          break;
        case 3:
          name = "X Bad";
          break;
        default:
          for (std::size_t n = rng.range(1, 24); n > 0; --n) name += static_cast<char>(rng.range(1, 255));
      }
      std::size_t at = p.lines.size() > 1 ? 1 + rng.below(p.lines.size() - 1) : p.lines.size();
      p.lines.insert(p.lines.begin() + static_cast<std::ptrdiff_t>(at), name + ": " + fill(rng, rng.range(0, 40)));
      return join(p);
    }
    case Mutation::RandomBytes: {
      std::string junk;
      std::size_t n = rng.range(1, 2000);
      for (std::size_t i = 0; i < n; ++i) junk += static_cast<char>(rng.below(256));
      if (rng.chance(30) || s.empty()) return junk;  // pure garbage datagram
      std::size_t at = rng.below(s.size());
      s.replace(at, std::min(n, s.size() - at), junk);
      return s;
    }
    case Mutation::LongViaList: {
      Parts p = split(s);
      std::size_t n = rng.chance(70) ? rng.range(10, 200) : rng.range(200, 1500);
      bool oneLine = rng.chance(40);
      std::vector<std::string> vias;
      for (std::size_t k = 0; k < n; ++k) {
        std::string host = rng.chance(10) ? ipv6Host(rng) : "127.0.0." + std::to_string(k % 250 + 3) + ":5060";
        vias.push_back("SIP/2.0/" + std::string(rng.chance(80) ? "UDP" : "TCP") + " " + host + ";branch=z9hG4bKlv" +
                       std::to_string(k));
      }
      std::size_t at = findHeader(p, "via", "v");
      if (!at || rng.chance(30)) at = p.lines.size() > 1 ? 1 + rng.below(p.lines.size() - 1) : p.lines.size();
      // Below the sender's own Via, so the message stays routable.
      if (at < p.lines.size() && isName(p.lines[at], "via", "v") && rng.chance(70)) ++at;
      if (oneLine) {
        std::string line = "Via: ";
        for (std::size_t k = 0; k < vias.size(); ++k) line += (k ? ", " : "") + vias[k];
        p.lines.insert(p.lines.begin() + static_cast<std::ptrdiff_t>(at), line);
      } else {
        std::vector<std::string> lines;
        for (auto& v : vias) lines.push_back((rng.chance(20) ? "v: " : "Via: ") + v);
        p.lines.insert(p.lines.begin() + static_cast<std::ptrdiff_t>(at), lines.begin(), lines.end());
      }
      return join(p);
    }
    case Mutation::DeepRouteSet: {
      Parts p = split(s);
      std::size_t n = rng.chance(70) ? rng.range(5, 100) : rng.range(100, 1200);
      std::vector<std::string> routes;
      for (std::size_t k = 0; k < n; ++k) {
        switch (rng.below(6)) {
          case 0:
            routes.push_back("<sip:" + t_.edge + ";lr>");
            break;  // ours: popped
          case 1:
            routes.push_back("<sip:" + t_.pbx + ";lr>");
            break;
          case 2:
            routes.push_back("<sip:" + t_.pbx + ">");
            break;  // strict router
          case 3:
            routes.push_back("<sip:127.0.0." + std::to_string(k % 250 + 3) + ";lr>");
            break;
          case 4:
            routes.push_back("<" + weirdUri(rng) + ">");
            break;
          default:
            routes.push_back("<sip:proxy" + std::to_string(k) + ".example.com;lr>");
        }
      }
      std::size_t at = p.lines.size() > 1 ? 1 + rng.below(p.lines.size() - 1) : p.lines.size();
      if (rng.chance(40)) {
        std::string line = "Route: ";
        for (std::size_t k = 0; k < routes.size(); ++k) line += (k ? "," : "") + routes[k];
        p.lines.insert(p.lines.begin() + static_cast<std::ptrdiff_t>(at), line);
      } else {
        std::vector<std::string> lines;
        for (auto& r : routes) lines.push_back((rng.chance(10) ? "Record-Route: " : "Route: ") + r);
        p.lines.insert(p.lines.begin() + static_cast<std::ptrdiff_t>(at), lines.begin(), lines.end());
      }
      return join(p);
    }
    case Mutation::WeirdUri: {
      Parts p = split(s);
      std::string u = weirdUri(rng);
      std::size_t which = rng.below(4);
      if (which == 0 || p.lines.size() < 2) {
        // Request-URI (or, in a response, the reason phrase).
        auto a = p.lines[0].find(' ');
        auto b = p.lines[0].rfind(' ');
        if (a == std::string::npos || b == a) return s;
        if (p.lines[0].starts_with("SIP/"))
          p.lines[0] = p.lines[0].substr(0, b + 1) + u;
        else
          p.lines[0] = p.lines[0].substr(0, a + 1) + u + p.lines[0].substr(b);
      } else {
        static const std::vector<std::pair<std::string, std::string>> names = {
            {"to", "t"}, {"from", "f"}, {"contact", "m"}, {"route", ""}, {"record-route", ""}};
        auto& [full, compact] = names[which == 1 ? 0 : rng.below(names.size())];
        std::size_t i = findHeader(p, full, compact);
        std::string line = (full == "route"          ? "Route"
                            : full == "record-route" ? "Record-Route"
                                                     : full) +
                           ": <" + u + ">";
        if (full == "from" || full == "to") line += ";tag=w" + std::to_string(rng.below(1000));
        if (i)
          p.lines[i] = line;
        else
          p.lines.insert(p.lines.begin() + 1, line);
      }
      return join(p);
    }
    case Mutation::Ipv6Literal: {
      // Replace one host:port (or host) occurrence of a known address with an IPv6 literal.
      std::vector<std::string> needles = {t_.phone, t_.edge, t_.pbx, "example.com", "127.0.0.1"};
      const std::string& needle = rng.pick(needles);
      std::vector<std::size_t> at;
      for (std::size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) at.push_back(p);
      std::string h = ipv6Host(rng);
      if (rng.chance(40) && h.back() == ']') h += ":" + std::to_string(rng.chance(50) ? 5060 : rng.below(70000));
      if (at.empty()) return s;
      s.replace(rng.pick(at), needle.size(), h);
      return s;
    }
    case Mutation::HeaderFolding: {
      Parts p = split(s);
      std::size_t i = randomHeaderIndex(p, rng);
      if (!i) return s;
      std::string& line = p.lines[i];
      switch (rng.below(3)) {
        case 0: {  // fold at a space (valid but obsolete, RFC 3261 §7.3.1)
          auto sp = line.find(' ');
          if (sp != std::string::npos) line.insert(sp, rng.chance(50) ? "\r\n " : "\r\n\t");
          break;
        }
        case 1:  // a continuation line before the first header
          p.lines.insert(p.lines.begin() + 1, " continued: x");
          break;
        default:  // many folds
          for (std::size_t k = rng.range(2, 400); k > 0; --k) line += "\r\n  x";
      }
      return join(p);
    }
    case Mutation::SwapLines: {
      Parts p = split(s);
      if (p.lines.size() < 2) return s;
      std::size_t a = rng.below(p.lines.size()), b = rng.below(p.lines.size());
      std::swap(p.lines[a], p.lines[b]);
      return join(p);
    }
    case Mutation::Splice: {
      const std::string& other = rng.pick(seeds_);
      switch (rng.below(3)) {
        case 0:
          return s + other;  // two messages in one datagram
        case 1: {            // head of one, tail of another
          std::size_t a = rng.below(s.size() + 1), b = rng.below(other.size() + 1);
          return s.substr(0, a) + other.substr(b);
        }
        default: {  // this message's header block with another's body
          Parts p = split(s), q = split(other);
          p.body = q.body;
          return join(p);
        }
      }
    }
    case Mutation::MaxForwards: {
      Parts p = split(s);
      static const std::vector<std::string> v = {"0",          "1",  "70",  "71", "255", "4294967295",
                                                 "4294967296", "-1", "abc", "",   "1 2", "00000000000000000000000001",
                                                 "69, 70"};
      std::string line = "Max-Forwards: " + rng.pick(v);
      std::size_t i = findHeader(p, "max-forwards", "");
      if (i && rng.chance(70))
        p.lines[i] = line;
      else
        p.lines.insert(p.lines.begin() + static_cast<std::ptrdiff_t>(i ? i : p.lines.size()), line);
      return join(p);
    }
    case Mutation::ViaParams: {
      Parts p = split(s);
      std::size_t i = findHeader(p, "via", "v");
      if (!i) return s;
      const std::vector<std::string> params = {";rport=abc",
                                               ";rport=0",
                                               ";rport=65536",
                                               ";rport=",
                                               ";rport;rport",
                                               ";branch=",
                                               ";branch",
                                               ";branch=z9hG4bKse",
                                               ";branch=z9hG4bKse00fe0123456789abcdef01234567",
                                               ";branch=z9hG4bKsehc",
                                               ";branch=z9hG4bKsehc000000000001",
                                               ";received=[::1]",
                                               ";received=999.1.1.1",
                                               ";received=",
                                               ";maddr=127.0.0.3",
                                               ";ttl=999",
                                               ";;;",
                                               ";=",
                                               ";branch=a;branch=b",
                                               ";alias",
                                               ";branch=" + std::string(rng.range(100, 8000), 'z')};
      switch (rng.below(4)) {
        case 0:
          p.lines[i] += rng.pick(params);
          break;
        case 1: {  // protocol
          static const std::vector<std::string> proto = {"SIP/2.0/SCTP", "SIP/3.0/UDP", "SIP/2.0/",    "SIP/2.0/UDPX",
                                                         "SIP /2.0/UDP", "sip/2.0/udp", "SIP/2.0/TLS", "SIP/2.0/WS"};
          auto c = p.lines[i].find(':');
          auto sp = p.lines[i].find(' ', c + 2);
          if (c != std::string::npos && sp != std::string::npos)
            p.lines[i] = p.lines[i].substr(0, c + 1) + " " + rng.pick(proto) + p.lines[i].substr(sp);
          break;
        }
        case 2: {  // host
          static const std::vector<std::string> hosts = {
              "",      ":5060",     "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
              "[::1]", "256.1.1.1", "host_name",  "a..b",        "127.0.0.1:5060:1"};
          auto c = p.lines[i].find(' ', p.lines[i].find('/'));
          auto semi = p.lines[i].find(';', c == std::string::npos ? 0 : c);
          if (c != std::string::npos)
            p.lines[i] = p.lines[i].substr(0, c + 1) + rng.pick(hosts) +
                         (semi == std::string::npos ? "" : p.lines[i].substr(semi));
          break;
        }
        default:  // the Via sipedge would write, on top: a loop or a spoofed response route
          p.lines.insert(p.lines.begin() + 1,
                         "Via: SIP/2.0/" + t_.transport + " " + t_.edge + ";branch=z9hG4bKse" + std::string(28, '0'));
      }
      return join(p);
    }
    case Mutation::StartLine: {
      Parts p = split(s);
      const std::vector<std::string> lines = {"INVITE sip:bob@example.com SIP/2.1",
                                              "INVITE sip:bob@example.com SIP/2.0x",
                                              "INVITE sip:bob@example.com",
                                              "INVITE  sip:bob@example.com  SIP/2.0",
                                              "INVITE\tsip:bob@example.com\tSIP/2.0",
                                              "invite sip:bob@example.com SIP/2.0",
                                              "FOO sip:bob@example.com SIP/2.0",
                                              "INV ITE sip:bob@example.com SIP/2.0",
                                              " INVITE sip:bob@example.com SIP/2.0",
                                              "SIP/2.0 99 Low",
                                              "SIP/2.0 700 High",
                                              "SIP/2.0 000 Zero",
                                              "SIP/2.0 -1 Neg",
                                              "SIP/2.0 99999 Big",
                                              "SIP/2.0 200",
                                              "SIP/2.0 200 " + std::string(3000, 'R'),
                                              "SIP/1.0 200 OK",
                                              "HTTP/1.1 200 OK",
                                              "GET / HTTP/1.1",
                                              "SIP/2.0 2OO OK",
                                              "SIP/2.0  200 OK",
                                              "",
                                              " ",
                                              "INVITE",
                                              "SIP/2.0",
                                              std::string(rng.range(100, 5000), 'M') + " sip:bob@example.com SIP/2.0"};
      p.lines[0] = rng.pick(lines);
      return join(p);
    }
    case Mutation::CSeq: {
      Parts p = split(s);
      static const std::vector<std::string> v = {"1 BYE",
                                                 "4294967296 INVITE",
                                                 "-1 INVITE",
                                                 "1",
                                                 "INVITE",
                                                 "",
                                                 "1 invite",
                                                 "1 INVITE extra",
                                                 "99999999999999999999 INVITE",
                                                 "0 INVITE",
                                                 "1 FOO",
                                                 "2147483648 REGISTER",
                                                 "1  INVITE"};
      std::size_t i = findHeader(p, "cseq", "");
      std::string line = "CSeq: " + rng.pick(v);
      if (i && rng.chance(75))
        p.lines[i] = line;
      else
        p.lines.insert(p.lines.begin() + static_cast<std::ptrdiff_t>(i ? i : p.lines.size()), line);
      return join(p);
    }
    case Mutation::Token:
    case Mutation::kCount: {
      const std::string& tok = rng.pick(interestingTokens());
      s.insert(rng.below(s.size() + 1), tok);
      return s;
    }
  }
  return s;
}

std::string Mutator::overlong(FuzzRng& rng) const {
  const std::string& base = seeds_[0];  // INVITE with SDP
  Parts p = split(base);
  switch (rng.below(4)) {
    case 0: {  // a body larger than the message limit, honestly announced
      std::size_t n = rng.range(66000, 120000);
      p.body = std::string(n, 'a');
      std::size_t i = findHeader(p, "content-length", "l");
      if (i) p.lines[i] = "Content-Length: " + std::to_string(n);
      return join(p);
    }
    case 1: {  // a header block that never ends
      std::string s = p.lines[0] + "\r\n";
      while (s.size() < 70000) s += "X-Flood: " + std::string(1000, 'f') + "\r\n";
      return s;
    }
    case 2: {  // one line of more than 64 KiB
      p.lines.insert(p.lines.begin() + 1, "X-Huge: " + std::string(rng.range(66000, 100000), 'h'));
      return join(p);
    }
    default: {  // within the header limit but header + body > 64 KiB
      std::size_t n = 65535 - 100;
      p.body = std::string(n, 'b');
      std::size_t i = findHeader(p, "content-length", "l");
      if (i) p.lines[i] = "Content-Length: " + std::to_string(n);
      p.lines.insert(p.lines.begin() + 1, "X-Pad: " + std::string(4000, 'p'));
      return join(p);
    }
  }
}

std::string escapeBytes(std::string_view s, std::size_t max) {
  std::string o;
  for (std::size_t i = 0; i < s.size() && i < max; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\r')
      o += "\\r";
    else if (c == '\n')
      o += "\\n";
    else if (c == '\t')
      o += "\\t";
    else if (c == '\\')
      o += "\\\\";
    else if (c == '"')
      o += "\\\"";
    else if (c < 0x20 || c >= 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      o += b;
      // A hex escape swallows following hex digits in C: split the literal.
      if (i + 1 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1]))) o += "\"\"";
    } else {
      o += static_cast<char>(c);
    }
  }
  if (s.size() > max) o += "...(" + std::to_string(s.size()) + " bytes)";
  return o;
}

}  // namespace sipedge::test
