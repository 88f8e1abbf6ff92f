// Who is in the overlay right now: the live accredited sites as this node sees them (roster
// entries whose DHT node answers). The overlay logic only reads it; the node (roster + routing
// table) or the simulator keeps it current.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/dht/node_id.hpp"
#include "dm2/dht/site_indexes.hpp"

namespace dm2::dht {

class placement_index;

struct site_info {
  std::string site_id;                 // roster site id (stable, unique)
  node_id id{};                        // DHT node id = SHA-1 of the site's Ed25519 key
  std::vector<std::string> endpoints;  // "IP:port" strings (dm2/crypto/endpoint.hpp)
  // Changes each time the site's process starts (a restart, possibly with a wiped disk), and
  // travels with its liveness: a peer that agreed with it before re-checks it once instead of
  // every pair re-checking on a timer (docs/overlay.md, "Anti-entropy").
  std::uint64_t incarnation = 0;
  // Stable small index of site_id in the view that listed it (membership::index_of): set by the
  // view, never reused for another site id.
  site_index index = 0;
};

// One step of a membership: `site_id` (node id `id`) became live or left the live set.
struct membership_change {
  std::string site_id;
  node_id id{};
  bool live = false;
  // Live before and after, with a new incarnation: placement is unchanged, but what the site
  // holds may be gone.
  bool restarted = false;
  std::uint64_t site_print = 0;  // fingerprint(site_id), computed once for every reader
  site_index index = 0;          // site_info::index
};

class membership {
 public:
  virtual ~membership() = default;
  // Live accredited sites, including this node itself when it is live, sorted by site_id.
  virtual std::vector<site_info> live_sites() const = 0;
  // Changes whenever the live set changes (a site joins, leaves, dies or comes back); the
  // replicator starts a repair round when it sees a new value.
  virtual std::uint64_t version() const = 0;
  // A placement index over live_sites() shared by every reader of this view (the simulator's
  // thousands of replicators share one), or null: each replicator then builds its own.
  virtual std::shared_ptr<const placement_index> shared_placement() const { return nullptr; }
  // The stable index (site_info::index) of a site id this view has listed, live or not; nullopt
  // for an id it never listed.
  virtual std::optional<site_index> index_of(std::string_view site_id) const = 0;
  // The site id of an index this view handed out.
  virtual const std::string& site_id_of(site_index index) const = 0;
  // What changed from version `since` to version(), oldest first, or nullopt when this view
  // does not keep it (the caller then recomputes everything it derived). Lets a replicator keep
  // the placements a change cannot touch. The span is valid until the next change.
  virtual std::optional<std::span<const membership_change>> changes_since(std::uint64_t since) const {
    (void)since;
    return std::nullopt;
  }
};

// A membership held in memory and changed by hand: tests, the simulator, and the node's view
// built from the roster and liveness. Not thread-safe: callers serialize access.
class static_membership final : public membership {
 public:
  // Adds or replaces a site (its index is set here); it starts live.
  void add(site_info site);
  void remove(const std::string& site_id);
  // Marks a known site live or dead; unknown ids are ignored. Bumps version() on change.
  void set_live(const std::string& site_id, bool live);
  // The site's process started again (its incarnation changes). Logged as a `restarted` change
  // when the view had it live all along; otherwise its coming back live says it.
  void restart(const std::string& site_id);
  bool is_live(const std::string& site_id) const;

  std::vector<site_info> live_sites() const override;
  std::uint64_t version() const override { return version_; }
  std::shared_ptr<const placement_index> shared_placement() const override;
  std::optional<site_index> index_of(std::string_view site_id) const override { return indexes_.find(site_id); }
  const std::string& site_id_of(site_index index) const override { return indexes_.id_of(index); }
  // Keeps the last 65,536 changes at least.
  std::optional<std::span<const membership_change>> changes_since(std::uint64_t since) const override;

 private:
  void record(const site_info& site, bool live, bool restarted = false);  // logs one change, bumps version_
  std::vector<membership_change> log_;  // log_[i]: the change from version log_start_ + i
  std::uint64_t log_start_ = 0;
  mutable std::shared_ptr<const placement_index> placement_;
  mutable std::uint64_t placement_version_ = ~std::uint64_t{0};
  struct entry {
    site_info info;
    bool live = true;
  };
  std::map<std::string, entry> sites_;
  site_indexes indexes_;
  std::uint64_t version_ = 0;
};

}  // namespace dm2::dht
