// A consortium site's Ed25519 signing key for the access unit tests: the private key (PEM) that
// signs, and the raw public key a roster would list.
#pragma once

#include <string>

#include "dm2/crypto/keys.hpp"

namespace dm2::node::access {

struct site_keys {
  std::string pem, raw;
};

inline site_keys make_keys() {
  auto pem = crypto::generate_private_key(crypto::key_type::ed25519);
  return {*pem, *crypto::raw_public_key(*pem)};
}

}  // namespace dm2::node::access
