// Random nonces without a system call per nonce: a per-thread pool refilled from libsodium's CSPRNG a few KiB at a
// time (the same bytes one randombytes_buf call per nonce would give; a fork()ed child discards the pool). For
// AEAD nonces, where only uniqueness matters: the store's values and the proxy's route tokens.
#pragma once

#include <cstddef>

namespace sipedge::store {

void randomNonce(unsigned char* out, std::size_t n);

}  // namespace sipedge::store
