#include "dm2/crypto/seal.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "dm2/crypto/hash.hpp"
#include "openssl_util.hpp"

namespace dm2::crypto {
using namespace detail;

namespace {

constexpr std::string_view seal_info = "dm2 seal v1";

std::string raw_public(EVP_PKEY* key) {
  std::string raw(x25519_public_key_size, '\0');
  size_t len = raw.size();
  if (!EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len) ||
      len != raw.size())
    return {};
  return raw;
}

// X25519(own, peer). Empty on failure: OpenSSL refuses an all-zero result (a low-order peer point).
std::string x25519(EVP_PKEY* own, EVP_PKEY* peer) {
  pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own, nullptr));
  std::string shared(32, '\0');
  size_t len = shared.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) <= 0 || EVP_PKEY_derive_set_peer(ctx.get(), peer) <= 0 ||
      EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(shared.data()), &len) <= 0 ||
      len != shared.size()) {
    ERR_clear_error();
    return {};
  }
  return shared;
}

result<std::string> seal_key(std::string_view shared, std::string_view ephemeral_pub,
                             std::string_view recipient_pub) {
  std::string salt;
  salt.reserve(2 * x25519_public_key_size);
  salt.append(ephemeral_pub).append(recipient_pub);
  return hkdf_sha256(shared, salt, seal_info, aead_key_size);
}

}  // namespace

result<std::string> seal(std::string_view recipient, std::string_view plaintext,
                         std::string_view associated_data) {
  if (recipient.size() != x25519_public_key_size)
    return fail(errc::invalid_argument, "X25519 public key must be 32 bytes");
  pkey_ptr peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, u8(recipient), recipient.size()));
  if (!peer) return fail(errc::invalid_argument, openssl_error("not an X25519 public key"));
  pkey_ptr ephemeral(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  if (!ephemeral) return fail(errc::crypto_failure, openssl_error("X25519 key generation failed"));
  std::string ephemeral_pub = raw_public(ephemeral.get());
  if (ephemeral_pub.empty()) return fail(errc::crypto_failure, openssl_error("cannot read X25519 key"));
  std::string shared = x25519(ephemeral.get(), peer.get());
  if (shared.empty()) return fail(errc::invalid_argument, "recipient key is a low-order point");
  auto key = seal_key(shared, ephemeral_pub, recipient);
  if (!key) return std::move(key).err();
  auto box = aead_seal(*key, plaintext, associated_data);
  if (!box) return std::move(box).err();
  return ephemeral_pub + *box;
}

result<std::string> open_sealed(std::string_view recipient_private_key_pem, std::string_view sealed,
                                std::string_view associated_data) {
  auto bio = memory_bio(recipient_private_key_pem);
  pkey_ptr own(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!own) return fail(errc::malformed_input, openssl_error("not a PEM private key"));
  if (!EVP_PKEY_is_a(own.get(), "X25519")) return fail(errc::unsupported, "sealing key is not X25519");
  if (sealed.size() < seal_overhead)
    return fail(errc::integrity_failure, "sealed box shorter than its fixed overhead");
  std::string_view ephemeral_pub = sealed.substr(0, x25519_public_key_size);
  pkey_ptr peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, u8(ephemeral_pub),
                                            ephemeral_pub.size()));
  if (!peer) {
    ERR_clear_error();
    return fail(errc::integrity_failure, "sealed box carries an invalid ephemeral key");
  }
  std::string shared = x25519(own.get(), peer.get());
  if (shared.empty()) return fail(errc::integrity_failure, "sealed box carries a low-order ephemeral key");
  std::string own_pub = raw_public(own.get());
  if (own_pub.empty()) return fail(errc::crypto_failure, openssl_error("cannot read X25519 key"));
  auto key = seal_key(shared, ephemeral_pub, own_pub);
  if (!key) return std::move(key).err();
  return aead_open(*key, sealed.substr(x25519_public_key_size), associated_data);
}

}  // namespace dm2::crypto
