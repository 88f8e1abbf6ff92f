#include "dm2/crypto/aead.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "dm2/crypto/hash.hpp"
#include "openssl_util.hpp"
#include "output_buffer.hpp"

namespace dm2::crypto {
using namespace detail;

std::string generate_aead_key() { return random_bytes(aead_key_size); }

status aead_seal_into(std::string_view key, std::string_view plaintext,
                      std::string_view associated_data, std::string& out) {
  if (key.size() != aead_key_size) return fail(errc::invalid_argument, "AES-256 key must be 32 bytes");
  // resize() keeps existing bytes and capacity: a reused buffer is neither reallocated nor zeroed.
  reserve_output(out, aead_nonce_size + plaintext.size() + aead_tag_size);
  out.resize(aead_nonce_size + plaintext.size() + aead_tag_size);
  if (RAND_bytes(u8(out), aead_nonce_size) != 1) {
    std::fputs("dm2: the random number generator failed; stopping\n", stderr);
    std::abort();
  }
  cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), aes_256_gcm(), nullptr, u8(key), u8(out)) == 1 &&
            EVP_EncryptUpdate(ctx.get(), nullptr, &len, u8(associated_data),
                              static_cast<int>(associated_data.size())) == 1 &&
            EVP_EncryptUpdate(ctx.get(), u8(out) + aead_nonce_size, &len, u8(plaintext),
                              static_cast<int>(plaintext.size())) == 1 &&
            EVP_EncryptFinal_ex(ctx.get(), u8(out) + aead_nonce_size + len, &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, aead_tag_size,
                                u8(out) + aead_nonce_size + plaintext.size()) == 1;
  if (!ok) {
    out.clear();
    return fail(errc::crypto_failure, openssl_error("AES-GCM encryption failed"));
  }
  return {};
}

result<std::string> aead_seal(std::string_view key, std::string_view plaintext,
                              std::string_view associated_data) {
  std::string out;
  if (auto s = aead_seal_into(key, plaintext, associated_data, out); !s) return std::move(s).err();
  return out;
}

status aead_open_into(std::string_view key, std::string_view sealed,
                      std::string_view associated_data, std::string& out) {
  if (key.size() != aead_key_size) return fail(errc::invalid_argument, "AES-256 key must be 32 bytes");
  if (sealed.size() < aead_overhead) {
    out.clear();
    return fail(errc::integrity_failure, "ciphertext shorter than nonce and tag");
  }
  const size_t text_size = sealed.size() - aead_overhead;
  reserve_output(out, text_size);
  out.resize(text_size);
  unsigned char tag[aead_tag_size];
  std::memcpy(tag, sealed.data() + aead_nonce_size + text_size, aead_tag_size);
  cipher_ctx_ptr ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), aes_256_gcm(), nullptr, u8(key), u8(sealed)) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len, u8(associated_data),
                              static_cast<int>(associated_data.size())) == 1 &&
            EVP_DecryptUpdate(ctx.get(), u8(out), &len, u8(sealed) + aead_nonce_size,
                              static_cast<int>(text_size)) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, aead_tag_size, tag) == 1;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    out.clear();
    return fail(errc::crypto_failure, openssl_error("AES-GCM decryption failed"));
  }
  if (EVP_DecryptFinal_ex(ctx.get(), u8(out) + len, &len) != 1) {
    ERR_clear_error();
    OPENSSL_cleanse(out.data(), out.size());  // unauthenticated plaintext never leaves
    out.clear();
    return fail(errc::integrity_failure, "authentication tag does not match");
  }
  return {};
}

result<std::string> aead_open(std::string_view key, std::string_view sealed,
                              std::string_view associated_data) {
  std::string out;
  if (auto s = aead_open_into(key, sealed, associated_data, out); !s) return std::move(s).err();
  return out;
}

}  // namespace dm2::crypto
