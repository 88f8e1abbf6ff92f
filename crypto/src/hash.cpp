#include "dm2/crypto/hash.hpp"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cstdint>
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
  // The digest fetched once and one context per thread: OpenSSL 3's SHA256() fetches SHA-256
  // from the provider (a lock, a name compare, a reference count) and makes a context at every
  // call, and the overlay hashes a name for every placement it recomputes (dm2-sim, 10,000
  // sites: ~3 % of the steady state, most of it the fetch).
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local const md_ctx_ptr ctx(EVP_MD_CTX_new());
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  if (!md || !ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), u8(out), nullptr) != 1)
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
  // The KDF fetched once (a sealed file's opening derives its keys: per file, a fresh
  // EVP_PKEY_CTX for HKDF cost OpenSSL 3 a provider look-up and a key-management bridge).
  static EVP_KDF* const hkdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  std::unique_ptr<EVP_KDF_CTX, deleter<EVP_KDF_CTX_free>> ctx(hkdf ? EVP_KDF_CTX_new(hkdf) : nullptr);
  std::string out(length, '\0');
  char digest[] = "SHA256";
  auto octets = [](const char* name, std::string_view v) {
    return OSSL_PARAM_construct_octet_string(name, const_cast<char*>(v.data()), v.size());
  };
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
                         octets(OSSL_KDF_PARAM_KEY, input_key), octets(OSSL_KDF_PARAM_SALT, salt),
                         octets(OSSL_KDF_PARAM_INFO, info), OSSL_PARAM_construct_end()};
  if (!ctx || EVP_KDF_derive(ctx.get(), u8(out), length, params) <= 0)
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

namespace {
constexpr char base64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}  // namespace

std::string to_base64(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t n = static_cast<std::uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<std::uint8_t>(bytes[i + 2]);
    out += base64_alphabet[n >> 18 & 63];
    out += base64_alphabet[n >> 12 & 63];
    out += i + 1 < bytes.size() ? base64_alphabet[n >> 6 & 63] : '=';
    out += i + 2 < bytes.size() ? base64_alphabet[n & 63] : '=';
  }
  return out;
}

result<std::string> from_base64(std::string_view text) {
  if (text.size() % 4 != 0) return fail(errc::malformed_input, "base64 length is not a multiple of 4");
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    std::size_t pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=' && text[i + 3] == '=') : 0;
    std::uint32_t n = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      int v = j >= 4 - pad ? 0 : value(text[i + j]);
      if (v < 0) return fail(errc::malformed_input, "not a base64 string");
      n = n << 6 | static_cast<std::uint32_t>(v);
    }
    if ((pad == 1 && (n & 0xff)) || (pad == 2 && (n & 0xffff)))
      return fail(errc::malformed_input, "base64 has non-zero trailing bits");
    out += static_cast<char>(n >> 16);
    if (pad < 2) out += static_cast<char>(n >> 8 & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace dm2::crypto
