#include "dm2/dht/overlay_membership.hpp"

#include <algorithm>
#include <map>

#include <spdlog/spdlog.h>

#include "dm2/dht/roster_sync.hpp"

namespace dm2::dht {

std::vector<site_info> sites_from_roster(const crypto::roster& r, std::int64_t now) {
  std::vector<site_info> out;
  for (const auto& e : r.sites) {
    if (e.expires_at <= now) continue;
    auto peer = crypto::parse_endpoint(e.dht_endpoint);
    if (!peer) {  // the roster's decoder refuses these: only a hand-built roster gets here
      spdlog::warn("event=roster_endpoint_skipped site={} reason=\"{}\"", e.site_id, peer.err().message);
      continue;
    }
    out.push_back(site_info{e.site_id, node_id_of_public_key(e.dht_public_key), {peer->to_string(), e.https_endpoint}});
  }
  return out;
}

overlay_membership::overlay_membership(const overlay& o, std::string self_site_id,
                                       std::chrono::milliseconds max_age)
    : overlay_(o), self_(std::move(self_site_id)), configured_age_(max_age), max_age_(max_age) {}

void overlay_membership::set_sites(std::vector<site_info> sites) {
  std::sort(sites.begin(), sites.end(),
            [](const site_info& a, const site_info& b) { return a.site_id < b.site_id; });
  for (auto& s : sites) s.index = indexes_.assign(s.site_id);
  sites_ = std::move(sites);
  // The probe cycle grows with the roster. An age under 3 cycles makes live peers flap: each
  // flap moves placement, starts a repair round, and shrinks the set of sites a query asks.
  // That broke dht_bench silently (issue 14), so the age is raised to 3 cycles, with a warning.
  auto floor = 3 * overlay_.probe_cycle();
  max_age_ = std::max(configured_age_, floor);
  if (configured_age_ < floor)
    spdlog::warn("event=liveness_timeout_short liveness_timeout_ms={} probe_cycle_ms={} roster_peers={} "
                 "used_ms={} hint=\"raise overlay.liveness_timeout_s or overlay.probe_rate\"",
                 configured_age_.count(), floor.count() / 3, overlay_.roster_peer_count(), max_age_.count());
  refresh();
}

void overlay_membership::refresh() {
  std::map<std::string, std::uint64_t> answering;  // DHT endpoint -> incarnation
  for (const auto& p : overlay_.live_peers(max_age_))
    answering.emplace(p.endpoint.to_string(), p.incarnation);
  std::vector<site_info> live;
  for (const auto& s : sites_) {
    if (s.site_id == self_) {
      live.push_back(s);
      live.back().incarnation = overlay_.incarnation();
      continue;
    }
    auto heard = s.endpoints.empty() ? answering.end() : answering.find(s.endpoints[0]);
    if (heard == answering.end()) continue;
    live.push_back(s);
    live.back().incarnation = heard->second;
  }
  // A new incarnation is a change too: the replicator then re-checks what that site held.
  auto same = live.size() == live_.size() &&
              std::equal(live.begin(), live.end(), live_.begin(), [](const site_info& a, const site_info& b) {
                return a.site_id == b.site_id && a.incarnation == b.incarnation;
              });
  if (!same) {
    live_ = std::move(live);
    ++version_;
  }
}

}  // namespace dm2::dht
