// A minimal MaxMind DB (.mmdb, format 2.0) writer for tests: a handful of networks mapped to small maps, enough
// for libmaxminddb to open and look up. Follows https://maxmind.github.io/MaxMind-DB/ (search tree of 24-bit
// records, 16-byte separator, data section, "\xAB\xCD\xEFMaxMind.com" + metadata map). No pointers or
// deduplication in the data section, networks must not overlap: a test fixture, not a tool.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace sipedge::testdata::mmdb {

// A data-section value: string, unsigned integer, map or array (all the test databases need).
struct Value {
  enum class Type { String, Uint16, Uint32, Uint64, Map, Array };
  Type type = Type::String;
  std::string str;
  std::uint64_t num = 0;
  std::vector<std::pair<std::string, Value>> map;
  std::vector<Value> array;

  static Value s(std::string v) {
    Value x;
    x.str = std::move(v);
    return x;
  }
  static Value u16(std::uint16_t v) { return number(Type::Uint16, v); }
  static Value u32(std::uint32_t v) { return number(Type::Uint32, v); }
  static Value u64(std::uint64_t v) { return number(Type::Uint64, v); }
  static Value m(std::vector<std::pair<std::string, Value>> v) {
    Value x;
    x.type = Type::Map;
    x.map = std::move(v);
    return x;
  }
  static Value a(std::vector<Value> v) {
    Value x;
    x.type = Type::Array;
    x.array = std::move(v);
    return x;
  }

 private:
  static Value number(Type t, std::uint64_t v) {
    Value x;
    x.type = t;
    x.num = v;
    return x;
  }
};

class Writer {
 public:
  // ipVersion 6 puts IPv4 networks at ::a.b.c.d/96+len, as GeoLite2 does; ipVersion 4 takes IPv4 only.
  explicit Writer(int ipVersion = 6, std::string databaseType = "Sipedge-Test-City")
      : ipVersion_(ipVersion), type_(std::move(databaseType)) {
    nodes_.push_back({});
  }

  // "127.0.1.0/24", "2001:db8::/32".
  void insert(const std::string& cidr, Value v) {
    auto slash = cidr.find('/');
    if (slash == std::string::npos) throw std::invalid_argument("cidr without /: " + cidr);
    std::string addr = cidr.substr(0, slash);
    int len = std::stoi(cidr.substr(slash + 1));
    std::array<std::uint8_t, 16> bits{};
    int width = 0;
    if (inet_pton(AF_INET, addr.c_str(), bits.data() + (ipVersion_ == 6 ? 12 : 0)) == 1) {
      if (len < 0 || len > 32) throw std::invalid_argument("bad prefix: " + cidr);
      width = ipVersion_ == 6 ? 128 : 32;
      if (ipVersion_ == 6) len += 96;
    } else if (inet_pton(AF_INET6, addr.c_str(), bits.data()) == 1) {
      if (ipVersion_ != 6) throw std::invalid_argument("IPv6 network in an IPv4 database: " + cidr);
      if (len < 0 || len > 128) throw std::invalid_argument("bad prefix: " + cidr);
      width = 128;
    } else {
      throw std::invalid_argument("bad address: " + cidr);
    }
    if (len == 0 || len > width) throw std::invalid_argument("bad prefix: " + cidr);
    values_.push_back(std::move(v));
    const Rec leaf{Rec::Data, values_.size() - 1};
    std::size_t node = 0;
    for (int i = 0; i < len; ++i) {
      int bit = (bits[static_cast<std::size_t>(i / 8)] >> (7 - i % 8)) & 1;
      if (i == len - 1) {
        nodes_[node][static_cast<std::size_t>(bit)] = leaf;
        break;
      }
      Rec r = nodes_[node][static_cast<std::size_t>(bit)];
      if (r.kind == Rec::Node) {
        node = r.value;
        continue;
      }
      nodes_.push_back({r, r});  // an empty (or wider) record becomes a node pointing where it pointed
      nodes_[node][static_cast<std::size_t>(bit)] = Rec{Rec::Node, nodes_.size() - 1};
      node = nodes_.size() - 1;
    }
  }

  // The whole file.
  std::string build() const {
    std::string data;
    std::vector<std::size_t> offsets;
    for (const Value& v : values_) {
      offsets.push_back(data.size());
      encode(v, data);
    }
    const std::uint64_t nodeCount = nodes_.size();
    std::string out;
    for (const auto& n : nodes_) {
      for (const Rec& r : n) {
        std::uint64_t v = r.kind == Rec::Node   ? r.value
                          : r.kind == Rec::Data ? nodeCount + 16 + offsets[r.value]
                                                : nodeCount;
        if (v >= (1u << 24)) throw std::length_error("test database too large for 24-bit records");
        out += static_cast<char>((v >> 16) & 0xff);
        out += static_cast<char>((v >> 8) & 0xff);
        out += static_cast<char>(v & 0xff);
      }
    }
    out.append(16, '\0');
    out += data;
    out += std::string("\xAB\xCD\xEF", 3) + "MaxMind.com";
    Value meta = Value::m({
        {"binary_format_major_version", Value::u16(2)},
        {"binary_format_minor_version", Value::u16(0)},
        {"build_epoch", Value::u64(1700000000)},
        {"database_type", Value::s(type_)},
        {"description", Value::m({{"en", Value::s("sipedge test database")}})},
        {"ip_version", Value::u16(static_cast<std::uint16_t>(ipVersion_))},
        {"languages", Value::a({Value::s("en")})},
        {"node_count", Value::u32(static_cast<std::uint32_t>(nodeCount))},
        {"record_size", Value::u16(24)},
    });
    encode(meta, out);
    return out;
  }

  void writeFile(const std::string& path) const {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    std::string bytes = build();
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) throw std::runtime_error("cannot write " + path);
  }

  std::size_t nodeCount() const { return nodes_.size(); }

 private:
  struct Rec {
    enum Kind { Empty, Node, Data } kind = Empty;
    std::size_t value = 0;  // node index or value index
  };

  // Control byte: 3 type bits (0 = extended, type - 7 in the next byte), 5 size bits (29/30/31 = 1/2/3 more
  // size bytes, biased by 29/285/65821), then the extended type byte, then the size bytes.
  static void control(int type, std::size_t size, std::string& out) {
    std::uint8_t first = static_cast<std::uint8_t>((type <= 7 ? type : 0) << 5);
    std::string extra;
    if (size < 29) {
      first |= static_cast<std::uint8_t>(size);
    } else if (size < 285) {
      first |= 29;
      extra += static_cast<char>(size - 29);
    } else if (size < 65821) {
      first |= 30;
      std::size_t s = size - 285;
      extra += static_cast<char>((s >> 8) & 0xff);
      extra += static_cast<char>(s & 0xff);
    } else {
      first |= 31;
      std::size_t s = size - 65821;
      extra += static_cast<char>((s >> 16) & 0xff);
      extra += static_cast<char>((s >> 8) & 0xff);
      extra += static_cast<char>(s & 0xff);
    }
    out += static_cast<char>(first);
    if (type > 7) out += static_cast<char>(type - 7);
    out += extra;
  }

  static void encodeUint(int type, std::uint64_t v, std::string& out) {
    std::string bytes;
    while (v) {
      bytes.insert(bytes.begin(), static_cast<char>(v & 0xff));
      v >>= 8;
    }
    control(type, bytes.size(), out);
    out += bytes;
  }

  static void encode(const Value& v, std::string& out) {
    switch (v.type) {
      case Value::Type::String:
        control(2, v.str.size(), out);
        out += v.str;
        break;
      case Value::Type::Uint16:
        encodeUint(5, v.num, out);
        break;
      case Value::Type::Uint32:
        encodeUint(6, v.num, out);
        break;
      case Value::Type::Uint64:
        encodeUint(9, v.num, out);
        break;
      case Value::Type::Map:
        control(7, v.map.size(), out);
        for (const auto& [k, val] : v.map) {
          control(2, k.size(), out);
          out += k;
          encode(val, out);
        }
        break;
      case Value::Type::Array:
        control(11, v.array.size(), out);
        for (const auto& e : v.array) encode(e, out);
        break;
    }
  }

  int ipVersion_;
  std::string type_;
  std::vector<std::array<Rec, 2>> nodes_;
  std::vector<Value> values_;
};

}  // namespace sipedge::testdata::mmdb
