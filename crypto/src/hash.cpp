#include "dm2/crypto/hash.hpp"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdio>
#include <cstdlib>

#include "openssl_util.hpp"

namespace dm2::crypto {
using namespace detail;

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(u8(out), static_cast<int>(n)) != 1) {
    std::fputs("dm2: the random number generator failed; stopping\n", stderr);
    std::abort();
  }
  return out;
}

std::string sha256(std::string_view data) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(u8(data), data.size(), u8(out));
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::string out(32, '\0');
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), u8(data), data.size(),
       u8(out), &len);
  return out;
}

result<std::string> hkdf_sha256(std::string_view input_key, std::string_view salt,
                                std::string_view info, std::size_t length) {
  if (length == 0 || length > 255 * 32)
    return fail(errc::invalid_argument, "HKDF output length must be 1..8160 bytes");
  std::unique_ptr<EVP_PKEY_CTX, deleter<EVP_PKEY_CTX_free>> ctx(
      EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  std::string out(length, '\0');
  size_t out_len = length;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 ||
      EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_salt(ctx.get(), u8(salt), static_cast<int>(salt.size())) <= 0 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), u8(input_key), static_cast<int>(input_key.size())) <= 0 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), u8(info), static_cast<int>(info.size())) <= 0 ||
      EVP_PKEY_derive(ctx.get(), u8(out), &out_len) <= 0)
    return fail(errc::crypto_failure, openssl_error("HKDF failed"));
  return out;
}

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

result<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return fail(errc::malformed_input, "hex string has odd length");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return fail(errc::malformed_input, "not a hex string");
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace dm2::crypto
