#include "dm2/dht/node_id.hpp"

#include <openssl/sha.h>

#include "dm2/crypto/hash.hpp"

namespace dm2::dht {

node_id node_id_of_public_key(std::string_view raw_public_key) {
  node_id id{};
  SHA1(reinterpret_cast<const unsigned char*>(raw_public_key.data()), raw_public_key.size(),
       id.data());
  return id;
}

node_id key_of(std::string_view name) {
  std::string digest = crypto::sha256(name);
  node_id id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>(digest[i]);
  return id;
}

node_id distance(const node_id& a, const node_id& b) {
  node_id d{};
  for (std::size_t i = 0; i < d.size(); ++i) d[i] = a[i] ^ b[i];
  return d;
}

bool closer(const node_id& a, const node_id& b, const node_id& target) {
  for (std::size_t i = 0; i < target.size(); ++i) {
    auto da = a[i] ^ target[i];
    auto db = b[i] ^ target[i];
    if (da != db) return da < db;
  }
  return false;
}

std::string to_hex(const node_id& id) {
  return crypto::to_hex(std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

result<node_id> node_id_from_hex(std::string_view hex) {
  if (hex.size() != 40) return fail(errc::malformed_input, "a node id is 40 hex characters");
  auto bytes = crypto::from_hex(hex);
  if (!bytes) return fail(errc::malformed_input, "a node id is 40 hex characters");
  node_id id{};
  for (std::size_t i = 0; i < id.size(); ++i) id[i] = static_cast<std::uint8_t>((*bytes)[i]);
  return id;
}

}  // namespace dm2::dht
