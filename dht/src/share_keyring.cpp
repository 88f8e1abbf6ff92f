#include "dm2/dht/share_keyring.hpp"

#include <openssl/crypto.h>

#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/seal.hpp"

namespace dm2::dht {

result<x25519_keyring> x25519_keyring::from_private_key(std::string private_key_pem) {
  auto type = crypto::private_key_type(private_key_pem);
  if (!type) return std::move(type).err();
  if (*type != crypto::key_type::x25519)
    return fail(errc::unsupported, "a share keyring needs an X25519 key");
  auto pub = crypto::raw_public_key(private_key_pem);
  if (!pub) return std::move(pub).err();
  return x25519_keyring(std::move(private_key_pem), std::move(*pub));
}

x25519_keyring::~x25519_keyring() { OPENSSL_cleanse(private_pem_.data(), private_pem_.size()); }

result<std::string> x25519_keyring::open(const key_share& share) {
  return crypto::open_sealed(private_pem_, share.sealed, share.key_id);
}

result<std::string> x25519_keyring::seal_for_self(const std::string& key_id, std::string_view raw) {
  return crypto::seal(public_raw_, raw, key_id);
}

}  // namespace dm2::dht
