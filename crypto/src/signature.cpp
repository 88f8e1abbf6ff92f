#include "dm2/crypto/signature.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "openssl_util.hpp"

namespace dm2::crypto {
using namespace detail;

struct signing_key::impl {
  pkey_ptr key;
};

signing_key::signing_key(std::shared_ptr<const impl> p) : impl_(std::move(p)) {}

result<signing_key> signing_key::from_pem(std::string_view private_key_pem) {
  auto bio = memory_bio(private_key_pem);
  pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return fail(errc::malformed_input, openssl_error("not a PEM private key"));
  if (!EVP_PKEY_is_a(key.get(), "ED25519"))
    return fail(errc::unsupported, "signing key is not an Ed25519 key");
  return signing_key(std::make_shared<const impl>(impl{std::move(key)}));
}

result<std::string> signing_key::sign(std::string_view message) const {
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  std::string sig(ed25519_signature_size, '\0');
  size_t len = sig.size();
  if (!ctx ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, impl_->key.get(), nullptr) != 1 ||
      EVP_DigestSign(ctx.get(), u8(sig), &len, u8(message), message.size()) != 1 ||
      len != ed25519_signature_size)
    return fail(errc::crypto_failure, openssl_error("Ed25519 signing failed"));
  return sig;
}

result<std::string> sign(std::string_view private_key_pem, std::string_view message) {
  auto key = signing_key::from_pem(private_key_pem);
  if (!key) return std::move(key).err();
  return key->sign(message);
}

status verify(std::string_view public_key, std::string_view message, std::string_view signature) {
  if (public_key.size() != ed25519_public_key_size)
    return fail(errc::invalid_argument, "Ed25519 public key must be 32 bytes");
  pkey_ptr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, u8(public_key), public_key.size()));
  if (!key) return fail(errc::invalid_argument, openssl_error("not an Ed25519 public key"));
  if (signature.size() != ed25519_signature_size)
    return fail(errc::integrity_failure, "Ed25519 signature must be 64 bytes");
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, nullptr, nullptr, nullptr, key.get(), nullptr) != 1)
    return fail(errc::crypto_failure, openssl_error("Ed25519 verification setup failed"));
  if (EVP_DigestVerify(ctx.get(), u8(signature), signature.size(), u8(message), message.size()) != 1) {
    ERR_clear_error();
    return fail(errc::integrity_failure, "Ed25519 signature does not verify");
  }
  return {};
}

}  // namespace dm2::crypto
