#include "route_token.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <unordered_map>

#include "store/nonce.h"

namespace sipedge::proxy {

namespace {

constexpr std::size_t kNonce = crypto_aead_chacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kMac = crypto_aead_chacha20poly1305_ietf_ABYTES;
constexpr unsigned char kVersion = 1;

// Plain layout: version, transport, family (4|6), address bytes, port (big-endian).
std::size_t pack(const Endpoint& e, unsigned char* out) {
  std::size_t n = 0;
  out[n++] = kVersion;
  out[n++] = static_cast<unsigned char>(e.transport);
  if (e.addr.is_v4()) {
    out[n++] = 4;
    auto b = e.addr.to_v4().to_bytes();
    std::memcpy(out + n, b.data(), b.size());
    n += b.size();
  } else {
    out[n++] = 6;
    auto b = e.addr.to_v6().to_bytes();
    std::memcpy(out + n, b.data(), b.size());
    n += b.size();
  }
  out[n++] = static_cast<unsigned char>(e.port >> 8);
  out[n++] = static_cast<unsigned char>(e.port & 0xff);
  return n;
}

std::uint64_t instanceId() {
  std::uint64_t id = 0;
  randombytes_buf(&id, sizeof id);
  return id;
}

// What one thread sealed and opened lately, for one RouteToken instance (a thread that meets another instance,
// as tests do, starts over).
struct Recent {
  std::uint64_t owner = 0;
  struct Sealed {
    std::string token;
    std::int64_t until = 0;
  };
  std::unordered_map<Endpoint, Sealed, EndpointHash> sealed;
  struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, Endpoint, TextHash, std::equal_to<>> opened;

  void claim(std::uint64_t id) {
    if (owner == id) return;
    owner = id;
    sealed.clear();
    opened.clear();
  }
  void remember(std::string_view token, const Endpoint& e, std::size_t cap) {
    if (opened.size() >= cap) opened.clear();
    opened.emplace(std::string(token), e);
  }
};

thread_local Recent recent;

std::int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

RouteToken::RouteToken(const Key& key) : key_(key), id_(instanceId()) {}

std::string RouteToken::seal(const Endpoint& e) const {
  recent.claim(id_);
  const std::int64_t now = nowSeconds();
  auto it = recent.sealed.find(e);
  if (it != recent.sealed.end() && it->second.until > now) return it->second.token;
  std::string token = sealFresh(e);
  if (recent.sealed.size() >= kCacheEntries) recent.sealed.clear();
  recent.sealed[e] = {token, now + kReuseSeconds};
  recent.remember(token, e, kCacheEntries);
  return token;
}

std::string RouteToken::sealFresh(const Endpoint& e) const {
  unsigned char plain[32];
  std::size_t plen = pack(e, plain);
  unsigned char box[kNonce + sizeof plain + kMac];
  store::randomNonce(box, kNonce);  // no getrandom(2) per REGISTER
  unsigned long long clen = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(box + kNonce, &clen, plain, plen, nullptr, 0, nullptr, box, key_.data());
  std::size_t total = kNonce + static_cast<std::size_t>(clen);
  std::string out(sodium_base64_ENCODED_LEN(total, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), box, total, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<Endpoint> RouteToken::open(std::string_view token) const {
  if (token.size() > 128) return std::nullopt;
  recent.claim(id_);
  if (auto it = recent.opened.find(token); it != recent.opened.end()) return it->second;
  auto e = openFresh(token);
  if (e) recent.remember(token, *e, kCacheEntries);
  return e;
}

std::optional<Endpoint> RouteToken::openFresh(std::string_view token) const {  // open() bounded its size
  unsigned char box[kNonce + 32 + kMac];
  std::size_t blen = 0;
  if (sodium_base642bin(box, sizeof box, token.data(), token.size(), nullptr, &blen, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
    return std::nullopt;
  if (blen < kNonce + kMac + 3) return std::nullopt;
  unsigned char plain[32];
  unsigned long long plen = 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(plain, &plen, nullptr, box + kNonce, blen - kNonce, nullptr, 0, box,
                                                key_.data()) != 0)
    return std::nullopt;
  if (plen < 3 || plain[0] != kVersion || plain[1] > 1) return std::nullopt;
  Endpoint e;
  e.transport = static_cast<Transport>(plain[1]);
  std::size_t n = 3;
  if (plain[2] == 4 && plen == 3 + 4 + 2) {
    boost::asio::ip::address_v4::bytes_type b;
    std::memcpy(b.data(), plain + n, 4);
    e.addr = boost::asio::ip::address_v4(b);
    n += 4;
  } else if (plain[2] == 6 && plen == 3 + 16 + 2) {
    boost::asio::ip::address_v6::bytes_type b;
    std::memcpy(b.data(), plain + n, 16);
    e.addr = boost::asio::ip::address_v6(b);
    n += 16;
  } else {
    return std::nullopt;
  }
  e.port = static_cast<std::uint16_t>(plain[n] << 8 | plain[n + 1]);
  if (e.port == 0) return std::nullopt;
  return e;
}

RouteToken::Key RouteToken::loadOrCreateKey(const std::string& path) {
  Key k{};
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t n = ::read(fd, k.data(), k.size());
    char extra;
    ssize_t more = ::read(fd, &extra, 1);
    ::close(fd);
    if (n != static_cast<ssize_t>(k.size()) || more != 0)
      throw std::runtime_error(path +
                               ": route key must be exactly 32 bytes (delete it to make a new one; "
                               "phones then need to register again)");
    return k;
  }
  if (errno != ENOENT) throw std::runtime_error(path + ": cannot read route key: " + std::strerror(errno));
  randombytes_buf(k.data(), k.size());
  std::string tmp = path + ".tmp";
  fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error(tmp + ": cannot create route key: " + std::strerror(errno));
  bool ok = ::write(fd, k.data(), k.size()) == static_cast<ssize_t>(k.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error(path + ": cannot write route key: " + std::strerror(errno));
  return k;
}

}  // namespace sipedge::proxy
