// Deterministic garbage for the fuzz-style end-to-end tests: a small corpus of valid SIP messages and a seeded
// mutator that damages them (bit flips, truncation, bad Content-Length, NUL bytes, bare CR/LF, header floods,
// weird URIs, IPv6 literals, ...). Message `i` of a run depends only on (seed, i, addresses), never on what was
// generated before, so one message can be rebuilt alone when it turns out to be a reproducer. No std::
// distributions are used: their output differs between standard libraries.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sipedge::test {

// xoshiro256** seeded through splitmix64.
class FuzzRng {
 public:
  explicit FuzzRng(std::uint64_t seed);
  std::uint64_t next();
  std::size_t below(std::size_t n);                   // [0, n); 0 when n == 0
  std::size_t range(std::size_t lo, std::size_t hi);  // [lo, hi]
  bool chance(unsigned percent) { return below(100) < percent; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[below(v.size())];
  }

 private:
  std::uint64_t s_[4];
};

// The addresses seed messages and mutations refer to, as "host:port".
struct FuzzTargets {
  std::string edge;                    // sipedge's public listener the messages are sent to
  std::string phone;                   // the sender
  std::string pbx;                     // a core-zone address (Route targets)
  std::string callee = "example.com";  // host[:port] of the Request-URIs (an IP makes core-zone requests routable)
  std::string transport = "UDP";       // "UDP" or "TCP", for Via
};

enum class Mutation {
  BitFlip,
  ByteInsert,
  ByteDelete,
  Truncate,
  DuplicateHeader,
  RemoveHeader,
  HugeHeaderValue,
  LongLine,
  NulByte,
  BareCrLf,
  ContentLength,
  RandomHeaderName,
  RandomBytes,
  LongViaList,
  DeepRouteSet,
  WeirdUri,
  Ipv6Literal,
  HeaderFolding,
  SwapLines,
  Splice,
  MaxForwards,
  ViaParams,
  StartLine,
  CSeq,
  Token,
  kCount
};

std::string_view mutationName(Mutation m);

class Mutator {
 public:
  // Outputs are cut to `maxSize` bytes (a UDP datagram must fit in 65507).
  Mutator(FuzzTargets t, std::uint64_t seed, std::size_t maxSize = 65000);

  const std::vector<std::string>& seeds() const { return seeds_; }
  const FuzzTargets& targets() const { return t_; }

  // Message `index` of this run: usually a seed with 1..4 mutations, sometimes an untouched seed (so the
  // forwarding path sees valid traffic too). `applied`, if given, receives the names of the mutations.
  std::string make(std::uint64_t index, std::string* applied = nullptr) const;
  // Applies 1..4 random mutations to `msg`.
  std::string mutate(const std::string& msg, FuzzRng& rng, std::string* applied = nullptr) const;
  std::string apply(Mutation m, const std::string& msg, FuzzRng& rng) const;
  // A message larger than 64 KiB in one of several shapes (huge body, huge header block, huge line).
  std::string overlong(FuzzRng& rng) const;
  // A per-index generator, for callers that need more random choices tied to message `index`.
  FuzzRng rngFor(std::uint64_t index, std::uint64_t stream = 0) const;

 private:
  std::string weirdUri(FuzzRng& rng) const;
  std::string ipv6Host(FuzzRng& rng) const;
  std::string fill(FuzzRng& rng, std::size_t n) const;

  FuzzTargets t_;
  std::uint64_t seed_;
  std::size_t maxSize_;
  std::vector<std::string> seeds_;
};

// The valid messages the mutator starts from: INVITE with SDP, REGISTER, OPTIONS (forwarded and local), BYE,
// ACK, CANCEL, 200 and 180 responses, a MESSAGE with compact headers and several Vias, an IPv6 INVITE.
std::vector<std::string> fuzzSeeds(const FuzzTargets& t);

// `s` as a C string literal body ("\r\n", "\x00", ...), for failure messages and reproducer reports.
std::string escapeBytes(std::string_view s, std::size_t max = 4096);

}  // namespace sipedge::test
