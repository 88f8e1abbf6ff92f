// The node's view of the consortium: the roster it holds (verified against the consortium key,
// only ever moving forward, kept in <data_dir>/roster.json across restarts), which sites are its
// peers, and whether a client certificate belongs to a current member. Thread-safe.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dm2/crypto/roster.hpp"
#include "dm2/node/config.hpp"
#include "dm2/node/identity.hpp"

namespace dm2::node {

class consortium {
 public:
  // With no [consortium] configured the node stands alone: no roster, no peers, every peer
  // request refused. Otherwise the configured roster and the saved one (if newer) are verified
  // and adopted. Errors: invalid_config (the roster does not verify against the key: names the
  // file), io_error.
  static result<std::unique_ptr<consortium>> load(const node_config& config, const site_identity& self);

  bool enabled() const { return state_ != nullptr; }
  // Verifies and adopts a newer roster and saves it. true if adopted; false if it is the
  // current one. Errors: those of crypto::roster_state::accept (stale_version, conflict,
  // integrity_failure, malformed_input), unavailable (no consortium configured).
  result<bool> offer(std::string_view document);

  // The roster state itself, for dht::roster_sync (it adopts into it; call save() after).
  // Only when enabled().
  crypto::roster_state& state() { return *state_; }
  // Saves the current roster (after an adoption by roster_sync), so a restart keeps it.
  void save();

  std::string document() const;  // empty without a roster
  std::uint64_t version() const;
  // The current entry of a verified client certificate. Errors: permission_denied.
  result<crypto::site_entry> member_by_fingerprint(std::string_view sha256_hex) const;
  // The current entry of a site id. Errors: permission_denied.
  result<crypto::site_entry> member_by_id(std::string_view site_id) const;
  std::optional<crypto::roster> current() const;
  // Current members other than this site.
  std::vector<crypto::site_entry> peers() const;
  // This site's entry, if the roster lists its certificate.
  std::optional<crypto::site_entry> self() const;

 private:
  consortium(std::unique_ptr<crypto::roster_state> state, std::string public_key,
             std::string fingerprint, std::filesystem::path saved);
  std::unique_ptr<crypto::roster_state> state_;
  std::string public_key_;
  std::string own_fingerprint_;
  std::filesystem::path saved_path_;
  std::mutex save_mutex_;  // adoptions by POST and by roster_sync may save at once
};

}  // namespace dm2::node
