// Key file, keyed hashing and the value envelope (see crypto.h).
#include "store/crypto.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "store/nonce.h"
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

// Nonces come from a per-thread pool filled by randombytes_buf a few KiB at a time: the same CSPRNG bytes as one
// call per seal, without a getrandom(2) system call per value. Only uniqueness matters for XChaCha20 nonces
// (192 random bits); the one way a pool could repeat one is a fork() that copies it into the child, so the child
// side of every fork discards the pool of the thread that forked (the only thread a child has).
struct NoncePool {
  static constexpr std::size_t kSize = 4096;
  std::array<unsigned char, kSize> bytes{};
  std::size_t pos = kSize;  // empty
  void take(unsigned char* out, std::size_t n) {
    if (n > kSize) {
      randombytes_buf(out, n);
      return;
    }
    if (kSize - pos < n) {
      randombytes_buf(bytes.data(), kSize);
      pos = 0;
    }
    std::memcpy(out, bytes.data() + pos, n);
    sodium_memzero(bytes.data() + pos, n);  // a byte handed out once is never in memory to hand out again
    pos += n;
  }
};
thread_local NoncePool tNonces;

void discardNoncePoolInChild() {
  sodium_memzero(tNonces.bytes.data(), tNonces.bytes.size());
  tNonces.pos = NoncePool::kSize;
}

}  // namespace

void randomNonce(unsigned char* out, std::size_t n) {
  static const int registered = ::pthread_atfork(nullptr, nullptr, discardNoncePoolInChild);
  (void)registered;
  tNonces.take(out, n);
}

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
  crypto_generichash_init(&hashInit_, hashKey_.data(), hashKey_.size(), kHashSize);
}

KeyRing::~KeyRing() {
  sodium_memzero(aeadKey_.data(), aeadKey_.size());
  sodium_memzero(hashKey_.data(), hashKey_.size());
  sodium_memzero(&hashInit_, sizeof hashInit_);
}

std::string KeyRing::hash(char tag, std::initializer_list<std::string_view> parts) const {
  std::string out;
  appendHash(&out, tag, parts);
  return out;
}

void KeyRing::appendHash(std::string* out, char tag, std::initializer_list<std::string_view> parts) const {
  crypto_generichash_state st = hashInit_;  // same as crypto_generichash_init with the hash key, one block less
  auto t = static_cast<unsigned char>(tag);
  crypto_generichash_update(&st, &t, 1);
  for (std::string_view p : parts) {
    unsigned char len[8];
    std::uint64_t n = p.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
    crypto_generichash_update(&st, len, sizeof len);
    crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(p.data()), p.size());
  }
  unsigned char h[kHashSize];
  crypto_generichash_final(&st, h, sizeof h);
  sodium_memzero(&st, sizeof st);
  out->append(reinterpret_cast<const char*>(h), sizeof h);
}

std::string KeyRing::seal(std::string_view ad, std::string_view plain) const {
  std::string out;
  appendSealed(&out, ad, plain);
  return out;
}

void KeyRing::appendSealed(std::string* out, std::string_view ad, std::string_view plain) const {
  constexpr std::size_t nb = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
  const std::size_t at = out->size();
  out->resize(at + nb + plain.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES);
  auto* o = reinterpret_cast<unsigned char*>(out->data()) + at;
  randomNonce(o, nb);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(o + nb, &clen, reinterpret_cast<const unsigned char*>(plain.data()),
                                             plain.size(), reinterpret_cast<const unsigned char*>(ad.data()), ad.size(),
                                             nullptr, o, aeadKey_.data());
  out->resize(at + nb + clen);
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
// cfTag || len(key) (8, little-endian) || key || header. Keys are short: on the stack unless one is not.
class AssociatedData {
 public:
  AssociatedData(std::uint8_t cfTag, std::string_view key, std::string_view header) {
    const std::size_t n = 1 + 8 + key.size() + header.size();
    if (n > sizeof small_) big_.resize(n);
    char* p = n > sizeof small_ ? big_.data() : small_;
    p[0] = static_cast<char>(cfTag);
    std::uint64_t len = key.size();
    for (int i = 0; i < 8; ++i) p[1 + i] = static_cast<char>(len >> (8 * i));
    std::memcpy(p + 9, key.data(), key.size());
    std::memcpy(p + 9 + key.size(), header.data(), header.size());
    view_ = {p, n};
  }
  AssociatedData(const AssociatedData&) = delete;
  AssociatedData& operator=(const AssociatedData&) = delete;
  std::string_view view() const { return view_; }

 private:
  char small_[128];
  std::string big_;
  std::string_view view_;
};
}  // namespace

std::string sealValue(const KeyRing& k, std::uint8_t cfTag, std::string_view key, ValueHeader h,
                      std::string_view plain) {
  std::string out;
  out.reserve(kValueHeaderSize + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + plain.size() +
              crypto_aead_xchacha20poly1305_ietf_ABYTES);
  out.push_back(static_cast<char>(kEnvelopeV1));
  out.push_back(static_cast<char>(h.flags));
  appendTime(&out, h.time);
  const AssociatedData ad(cfTag, key, out);
  k.appendSealed(&out, ad.view(), plain);
  return out;
}

bool openValue(const KeyRing& k, std::uint8_t cfTag, std::string_view key, std::string_view value, std::string* plain,
               ValueHeader* h) {
  ValueHeader local;
  if (!parseHeader(value, &local)) return false;
  const AssociatedData ad(cfTag, key, value.substr(0, kValueHeaderSize));
  if (!k.open(ad.view(), value.substr(kValueHeaderSize), plain)) return false;
  if (h) *h = local;
  return true;
}

}  // namespace sipedge::store
