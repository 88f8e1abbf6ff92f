// The keys this site owns (series keys) and the replicator's share_source over them
// (docs/overlay.md, "Key shares"). An owned key is kept as its secret, t, n and a 32-byte seed
// from which the Shamir coefficients derive (crypto::derive_share), so any index's share can be
// re-created byte for byte — the same share a repair gives that index while the owner is down —
// and nothing else has to be kept. The node stores the encoding, encrypted at rest, in
// storage::family::owned_keys within the commit that creates the key (put_owned_key).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dm2/dht/replicator.hpp"
#include "dm2/result.hpp"
#include "dm2/storage/database.hpp"
#include "dm2/storage/transaction.hpp"

namespace dm2::dht {

struct owned_key {
  std::string key_id;          // the key's name in the overlay (a series key: its LFN, hex)
  std::string secret;          // the key itself (1 byte..64 KiB)
  std::uint32_t threshold = 2;  // t
  std::uint32_t count = 3;      // n
  std::string seed;            // 32 random bytes: the polynomial's coefficients derive from it
};

// A new owned key with a fresh random seed. Errors: invalid_argument (not 2 <= t <= n <= 255,
// empty secret or key id).
result<owned_key> make_owned_key(std::string key_id, std::string secret, std::uint32_t threshold,
                                 std::uint32_t count);
// Compact binary form (format byte 1). decode is strict. Errors: malformed_input.
std::string encode_owned_key(const owned_key& k);
result<owned_key> decode_owned_key(std::string_view bytes);
// Adds the key's storage write (owned_keys family, key = key id) to `t`.
void put_owned_key(storage::transaction& t, const owned_key& k);

// Seals one raw share for `holder_site`: the node seals to the holder's roster X25519 key with
// the key id as associated data (what x25519_keyring opens); the simulator passes it through.
using share_sealer = std::function<result<std::string>(const std::string& holder_site, const std::string& key_id,
                                                       std::string_view raw_share)>;

// Thread-safe: the replicator calls make_share on its strand while ingest workers add keys.
class owned_key_source final : public share_source {
 public:
  owned_key_source(std::string owner_site, share_sealer seal)
      : owner_(std::move(owner_site)), seal_(std::move(seal)) {}

  // Keeps `k` (replacing a key with the same id). The caller also persists it (put_owned_key).
  void add(owned_key k);
  // Adds every key stored in `db`'s owned_keys family. Errors: those of
  // database::for_each_value, malformed_input (a stored key does not decode).
  status load(storage::database& db);
  std::optional<owned_key> find(const std::string& key_id) const;
  // (key id, n) of every key, for replicator::own_key at start.
  std::vector<std::pair<std::string, std::uint32_t>> keys() const;
  // Share `index` of a key, not sealed (tests; what a holder opens). nullopt: unknown key, index
  // 0 or above 255.
  std::optional<std::string> raw_share(const std::string& key_id, std::uint32_t index) const;

  std::optional<key_share> make_share(const std::string& key_id, std::uint32_t index,
                                      const std::string& holder_site) override;

 private:
  std::string owner_;
  share_sealer seal_;
  mutable std::mutex mutex_;
  std::map<std::string, owned_key> keys_;
};

}  // namespace dm2::dht
