// What share repair needs from the site's sealing key (docs/overlay.md, "Share repair"): open a
// share sealed to this site, and seal a repaired share to this site. The node implements it with
// its X25519 seal key through x25519_keyring below (seal.hpp, the key id as associated data).
// Implementations say whether they are thread-safe; the replicator calls them from its strand.
#pragma once

#include <string>
#include <string_view>

#include "dm2/dht/replica_store.hpp"
#include "dm2/result.hpp"

namespace dm2::dht {

class share_keyring {
 public:
  virtual ~share_keyring() = default;
  // The encoded share (shares.hpp) inside `share.sealed`. The caller wipes it after use.
  // Errors: integrity_failure (not sealed to us, changed), malformed_input.
  virtual result<std::string> open(const key_share& share) = 0;
  // `raw` (an encoded share of `key_id`) sealed to this site, as key_share::sealed.
  // Errors: those of crypto::seal.
  virtual result<std::string> seal_for_self(const std::string& key_id, std::string_view raw) = 0;
};

// The site's X25519 sealing key (identity's seal.key): shares sealed with crypto::seal to its
// public key and the key id as associated data, as split_and_seal does. Thread-safe (immutable).
class x25519_keyring final : public share_keyring {
 public:
  // Errors: malformed_input (not a PEM key), unsupported (not X25519).
  static result<x25519_keyring> from_private_key(std::string private_key_pem);
  ~x25519_keyring() override;
  x25519_keyring(x25519_keyring&&) noexcept = default;
  x25519_keyring& operator=(x25519_keyring&&) noexcept = default;

  result<std::string> open(const key_share& share) override;
  result<std::string> seal_for_self(const std::string& key_id, std::string_view raw) override;
  const std::string& public_key() const { return public_raw_; }  // raw 32 bytes

 private:
  x25519_keyring(std::string private_pem, std::string public_raw)
      : private_pem_(std::move(private_pem)), public_raw_(std::move(public_raw)) {}
  std::string private_pem_, public_raw_;
};

}  // namespace dm2::dht
