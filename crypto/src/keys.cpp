#include "dm2/crypto/keys.hpp"

#include <openssl/ec.h>
#include <openssl/pem.h>

#include "openssl_util.hpp"

namespace dm2::crypto {
using namespace detail;

namespace {

result<pkey_ptr> load_private_key(std::string_view pem) {
  auto bio = memory_bio(pem);
  pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return fail(errc::malformed_input, openssl_error("not a PEM private key"));
  return key;
}

}  // namespace

result<std::string> generate_private_key(key_type type) {
  pkey_ptr key;
  switch (type) {
    case key_type::ecdsa_p256:
      key.reset(EVP_EC_gen("P-256"));
      break;
    case key_type::ed25519:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
      break;
    case key_type::x25519:
      key.reset(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
      break;
  }
  if (!key) return fail(errc::crypto_failure, openssl_error("key generation failed"));
  bio_ptr out(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr))
    return fail(errc::crypto_failure, openssl_error("cannot encode private key"));
  return bio_to_string(out.get());
}

result<key_type> private_key_type(std::string_view private_key_pem) {
  auto key = load_private_key(private_key_pem);
  if (!key) return std::move(key).err();
  if (EVP_PKEY_is_a(key->get(), "ED25519")) return key_type::ed25519;
  if (EVP_PKEY_is_a(key->get(), "X25519")) return key_type::x25519;
  if (EVP_PKEY_is_a(key->get(), "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key->get(), "group", group, sizeof group, &len) &&
        std::string_view(group) == "prime256v1")
      return key_type::ecdsa_p256;
  }
  return fail(errc::unsupported, "key type is not P-256, Ed25519 or X25519");
}

result<std::string> public_key_pem(std::string_view private_key_pem) {
  auto key = load_private_key(private_key_pem);
  if (!key) return std::move(key).err();
  bio_ptr out(BIO_new(BIO_s_mem()));
  if (!PEM_write_bio_PUBKEY(out.get(), key->get()))
    return fail(errc::crypto_failure, openssl_error("cannot encode public key"));
  return bio_to_string(out.get());
}

result<std::string> raw_public_key(std::string_view private_key_pem) {
  auto key = load_private_key(private_key_pem);
  if (!key) return std::move(key).err();
  if (!EVP_PKEY_is_a(key->get(), "ED25519") && !EVP_PKEY_is_a(key->get(), "X25519"))
    return fail(errc::unsupported, "raw public keys exist only for Ed25519 and X25519");
  std::string raw(32, '\0');
  size_t len = raw.size();
  if (!EVP_PKEY_get_raw_public_key(key->get(), reinterpret_cast<unsigned char*>(raw.data()), &len) ||
      len != 32)
    return fail(errc::crypto_failure, openssl_error("cannot read raw public key"));
  return raw;
}

}  // namespace dm2::crypto
