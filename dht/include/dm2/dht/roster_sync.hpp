// Roster updates over the overlay (docs/overlay.md, "Roster announce").
//
// The consortium announces each roster version as a BEP44 mutable item signed by the consortium
// key: salt "dm2-roster", seq = roster version, value = SHA-256 of the roster body (32 bytes).
// The roster itself (up to 1 MB) does not fit in an item, so a node that sees a newer seq fetches
// the full document from a member over mutual TLS (roster_fetcher), checks the consortium
// signature and the announced hash (crypto::roster_state::accept), and adopts it: the overlay's
// allow-lists are replaced at once, so a removed site is cut off within one refresh; the node's
// TLS layer is told through on_adopted. Rosters only ever move forward.
//
// Not thread-safe, except apply_current: one caller (the node's roster thread, off the I/O
// threads: refresh() blocks on the DHT and the fetch).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/crypto/roster.hpp"
#include "dm2/dht/overlay.hpp"
#include "dm2/result.hpp"

namespace dm2::dht {

inline constexpr std::string_view roster_announce_salt = "dm2-roster";

// Gets the roster document from one member (node-to-node HTTPS with mutual TLS in the node;
// tests use an in-memory one). Errors: whatever the transport reports (unavailable, timeout...).
class roster_fetcher {
 public:
  virtual ~roster_fetcher() = default;
  virtual result<std::string> fetch(const crypto::site_entry& from) = 0;
};

// The overlay's allow-lists for a roster: every unexpired site's DHT endpoint and key, plus the
// consortium key (it signs the announcement). Sites with an unparsable endpoint are skipped.
struct roster_admission {
  std::vector<dht_peer> peers;
  std::vector<std::string> signing_keys;
};
roster_admission admission_for(const crypto::roster& r, std::string_view consortium_public_key,
                               std::int64_t now);

// The BEP44 signature of `document`'s announcement (salt, seq = version, value = roster hash),
// made where the consortium key lives (the operator's `dm2 roster publish --ca-dir`).
// Errors: malformed_input/too_large (not a roster document), those of bep44_signature.
result<std::string> roster_announcement_signature(std::string_view document,
                                                  std::string_view consortium_key_pem);

// Checks that `signature` is the consortium's announcement of `document`.
// Errors: malformed_input (not a roster document), integrity_failure (it is not).
status verify_roster_announcement(std::string_view document, std::string_view consortium_public_key,
                                  std::string_view signature);

// Puts the announcement of `document` with a signature made elsewhere (a node relays what the
// operator signed), after checking it against the consortium key, so a bad one is refused here
// with a clear error rather than silently by every receiver. Returns how many DHT nodes stored
// it. Errors: malformed_input (not a roster document), integrity_failure (the signature is not
// the consortium's over this document's announcement), those of put_signed_mutable.
result<int> relay_roster_announcement(overlay& o, std::string_view document,
                                      std::string_view consortium_public_key,
                                      std::string_view signature);

// Signs and puts the announcement in one go (tests and tools holding the consortium key).
// Errors: those of roster_announcement_signature / relay_roster_announcement.
result<int> announce_roster(overlay& o, std::string_view document, std::string_view consortium_key_pem);

class roster_sync {
 public:
  // `self_site_id`: never fetch from ourselves. `clock_seconds`: wall time (expiry checks).
  roster_sync(overlay& o, crypto::roster_state& state, roster_fetcher& fetcher,
              std::string consortium_public_key, std::string self_site_id,
              std::function<std::int64_t()> clock_seconds);

  // Called after each adoption (for the TLS layer and the membership view).
  std::function<void(const crypto::roster&)> on_adopted;

  // Applies the current roster to the overlay (start-up, after loading a saved roster, after
  // an adoption by another path). Unlike refresh, safe from any thread: it only reads the
  // (thread-safe) roster_state and calls the (thread-safe) overlay.
  status apply_current();
  // One refresh: reads the announcement; if it is newer than the current roster, fetches the
  // document from the members in turn until one verifies and matches the announced hash, then
  // adopts it. Returns true if a new roster was adopted. Errors: not_found is not an error
  // (returns false); unavailable (no member served a valid document), and the overlay's errors.
  result<bool> refresh();

 private:
  overlay& overlay_;
  crypto::roster_state& state_;
  roster_fetcher& fetcher_;
  std::string consortium_key_;
  std::string self_;
  std::function<std::int64_t()> now_;
};

}  // namespace dm2::dht
