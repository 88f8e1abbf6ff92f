// The membership view of a running node: the roster's sites, live when their DHT node answered
// a ping recently (overlay::live_peers), plus this node itself, each with the incarnation its
// pings carry (a new one bumps version(): the site restarted). Feeds the replicator.
// Not thread-safe: the caller serializes refresh() with the replicator's calls.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "dm2/crypto/roster.hpp"
#include "dm2/dht/membership.hpp"
#include "dm2/dht/overlay.hpp"

namespace dm2::dht {

// One site_info per unexpired roster entry: node id = SHA-1 of its DHT key, endpoints =
// {dht_endpoint, https_endpoint}.
std::vector<site_info> sites_from_roster(const crypto::roster& r, std::int64_t now);

class overlay_membership final : public membership {
 public:
  // `max_age`: a site is live while its last answer is younger than this (a few probe periods).
  overlay_membership(const overlay& o, std::string self_site_id, std::chrono::milliseconds max_age);

  // Replaces the known sites (endpoints[0] must be the DHT endpoint "address:port"). When
  // max_age is under 3 probe cycles of the overlay at its current roster size, 3 cycles are used
  // instead and a warning is logged (event=liveness_timeout_short): the cycle grows with the
  // roster, so this is decided at runtime.
  void set_sites(std::vector<site_info> sites);
  // Re-reads liveness from the overlay; bumps version() if the live set changed.
  void refresh();

  std::vector<site_info> live_sites() const override { return live_; }
  std::size_t live_count() const { return live_.size(); }
  std::size_t known_count() const { return sites_.size(); }
  // The roster's sites, live or not.
  const std::vector<site_info>& known_sites() const { return sites_; }
  std::uint64_t version() const override { return version_; }
  std::optional<site_index> index_of(std::string_view site_id) const override { return indexes_.find(site_id); }
  const std::string& site_id_of(site_index index) const override { return indexes_.id_of(index); }
  // The liveness age in use: max(max_age, 3 probe cycles) since the last set_sites.
  std::chrono::milliseconds liveness_age() const { return max_age_; }

 private:
  const overlay& overlay_;
  std::string self_;
  std::chrono::milliseconds configured_age_;
  std::chrono::milliseconds max_age_;  // in use
  std::vector<site_info> sites_;
  std::vector<site_info> live_;
  site_indexes indexes_;  // every site id ever listed: an index outlives the site's roster entry
  std::uint64_t version_ = 0;
};

}  // namespace dm2::dht
