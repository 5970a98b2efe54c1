// Key file, keyed hashing and the value envelope (see crypto.h).
#include "store/crypto.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "store/store.h"

namespace sipedge::store {
namespace {

constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "sipedge1";
constexpr std::uint64_t kAeadSubkey = 1;
constexpr std::uint64_t kHashSubkey = 2;
constexpr std::uint8_t kEnvelopeV1 = 1;

std::string sysError(const std::string& what, const std::string& path) {
  return what + " '" + path + "': " + std::strerror(errno);
}

// Closes the descriptor on every path out.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void createKeyFile(const std::string& path) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::exists(parent, ec)) {
    std::filesystem::create_directories(parent, ec);
    if (ec) throw StoreError("cannot create the key file's directory '" + parent.string() + "': " + ec.message());
    std::filesystem::permissions(parent, std::filesystem::perms::owner_all, ec);
  }
  Fd f{::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
  if (f.fd < 0) throw StoreError(sysError("cannot create key file", path));
  if (::fchmod(f.fd, 0600) != 0) throw StoreError(sysError("cannot set mode 0600 on key file", path));
  std::array<unsigned char, 32> key{};
  randombytes_buf(key.data(), key.size());
  ssize_t n = ::write(f.fd, key.data(), key.size());
  sodium_memzero(key.data(), key.size());
  if (n != static_cast<ssize_t>(key.size()) || ::fsync(f.fd) != 0) {
    ::unlink(path.c_str());
    throw StoreError(sysError("cannot write key file", path));
  }
  if (!parent.empty()) {
    Fd d{::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
    if (d.fd >= 0) ::fsync(d.fd);  // make the new name durable before the store depends on it
  }
}

}  // namespace

std::unique_ptr<KeyRing> KeyRing::fromFile(const std::string& path, bool create) {
  if (sodium_init() < 0) throw StoreError("libsodium failed to initialise");
  if (path.empty()) throw StoreError("no key file configured for the store");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) throw StoreError(sysError("cannot stat key file", path));
    if (!create) throw StoreError("key file '" + path + "' does not exist");
    createKeyFile(path);
  }
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) throw StoreError(sysError("cannot open key file", path));
  if (::fstat(f.fd, &st) != 0) throw StoreError(sysError("cannot stat key file", path));
  if (!S_ISREG(st.st_mode)) throw StoreError("key file '" + path + "' is not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw StoreError("key file '" + path + "' has permissions " + mode +
                     ", looser than 0600: refusing to use it (chmod 600 it)");
  }
  if (st.st_size != 32) {
    throw StoreError("key file '" + path + "' is " + std::to_string(st.st_size) +
                     " bytes; a store key is exactly 32 bytes");
  }
  std::array<unsigned char, 32> master{};
  ssize_t n = ::read(f.fd, master.data(), master.size());
  if (n != static_cast<ssize_t>(master.size())) {
    sodium_memzero(master.data(), master.size());
    throw StoreError(sysError("cannot read key file", path));
  }
  auto ring = std::make_unique<KeyRing>(master);
  sodium_memzero(master.data(), master.size());
  return ring;
}

KeyRing::KeyRing(const std::array<unsigned char, 32>& master) {
  crypto_kdf_derive_from_key(aeadKey_.data(), aeadKey_.size(), kAeadSubkey, kKdfContext, master.data());
  crypto_kdf_derive_from_key(hashKey_.data(), hashKey_.size(), kHashSubkey, kKdfContext, master.data());
}

KeyRing::~KeyRing() {
  sodium_memzero(aeadKey_.data(), aeadKey_.size());
  sodium_memzero(hashKey_.data(), hashKey_.size());
}

std::string KeyRing::hash(char tag, std::initializer_list<std::string_view> parts) const {
  crypto_generichash_state st;
  crypto_generichash_init(&st, hashKey_.data(), hashKey_.size(), kHashSize);
  auto t = static_cast<unsigned char>(tag);
  crypto_generichash_update(&st, &t, 1);
  for (std::string_view p : parts) {
    unsigned char len[8];
    std::uint64_t n = p.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    crypto_generichash_update(&st, len, sizeof len);
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(p.data()), p.size());
  }
  std::string out(kHashSize, '\0');
  crypto_generichash_final(&st, reinterpret_cast<unsigned char*>(out.data()), out.size());
  return out;
}

std::string KeyRing::seal(std::string_view ad, std::string_view plain) const {
  constexpr std::size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  std::string out(nb + plain.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(o, nb);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(o + nb, &clen, reinterpret_cast<const unsigned char*>(plain.data()),
                                             plain.size(), reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
                                             nullptr, o, aeadKey_.data());
  out.resize(nb + clen);
  return out;
}

bool KeyRing::open(std::string_view ad, std::string_view sealed, std::string* plain) const {
  constexpr std::size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  constexpr std::size_t ab = crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (sealed.size() < nb + ab) return false;
  const auto* s = reinterpret_cast<const unsigned char*>(sealed.data());
  plain->assign(sealed.size() - nb - ab, '\0');
  unsigned long long mlen = 0;
  int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      reinterpret_cast<unsigned char*>(plain->data()), &mlen, nullptr, s + nb, sealed.size() - nb,
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), s, aeadKey_.data());
  if (rc != 0) {
    plain->clear();
    return false;
  }
  plain->resize(mlen);
  return true;
}

void appendTime(std::string* out, Millis t) {
  std::uint64_t u = static_cast<std::uint64_t>(t) ^ (std::uint64_t{1} << 63);
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>(u >> (8 * i)));
}

Millis readTime(std::string_view b) {
  std::uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = (u << 8) | static_cast<unsigned char>(b[i]);
  return static_cast<Millis>(u ^ (std::uint64_t{1} << 63));
}

bool parseHeader(std::string_view value, ValueHeader* h) {
  if (value.size() < kValueHeaderSize || static_cast<std::uint8_t>(value[0]) != kEnvelopeV1) return false;
  h->flags = static_cast<std::uint8_t>(value[1]);
  h->time = readTime(value.substr(2, 8));
  return true;
}

namespace {
std::string associatedData(std::uint8_t cfTag, std::string_view key, std::string_view header) {
  std::string ad;
  ad.reserve(1 + 8 + key.size() + header.size());
  ad.push_back(static_cast<char>(cfTag));
  std::uint64_t n = key.size();
  for (int i = 0; i < 8; ++i) ad.push_back(static_cast<char>(n >> (8 * i)));
  ad.append(key);
  ad.append(header);
  return ad;
}
}  // namespace

std::string sealValue(const KeyRing& k, std::uint8_t cfTag, std::string_view key, ValueHeader h,
                      std::string_view plain) {
  std::string out;
  out.push_back(static_cast<char>(kEnvelopeV1));
  out.push_back(static_cast<char>(h.flags));
  appendTime(&out, h.time);
  out += k.seal(associatedData(cfTag, key, out), plain);
  return out;
}

bool openValue(const KeyRing& k, std::uint8_t cfTag, std::string_view key, std::string_view value, std::string* plain,
               ValueHeader* h) {
  ValueHeader local;
  if (!parseHeader(value, &local)) return false;
  if (!k.open(associatedData(cfTag, key, value.substr(0, kValueHeaderSize)), value.substr(kValueHeaderSize), plain))
    return false;
  if (h) *h = local;
  return true;
}

}  // namespace sipedge::store
