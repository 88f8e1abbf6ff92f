// What share repair needs from the site's sealing key (docs/overlay.md, "Share repair"): open a
// share sealed to this site, and seal a repaired share to this site. The node implements it with
// its X25519 seal key (seal.hpp, the key id as associated data); tests with real crypto::seal.
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

}  // namespace dm2::dht
