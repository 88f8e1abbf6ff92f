// Stable 4-byte indexes for site ids, handed out by a membership view the first time it lists a
// site and never given to another id (a site that leaves and comes back keeps its index). The
// replicator keys its per-site state (holders, peers, digests, memoized placements) by index, so
// a record's holders fit in place instead of a heap block of 32-byte strings: at 10,000 sites
// dm2-sim's state is touched cold at every message (docs/simulator.md, "Ninth pass").
//
// Not thread-safe for writes; concurrent reads of an unchanging table are fine.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include <boost/container/small_vector.hpp>

#include "dm2/dht/hash_slots.hpp"

namespace dm2::dht {

using site_index = std::uint32_t;
// No site: an id no view listed (it matches no holder, no placement, no peer).
inline constexpr site_index no_site = ~site_index{0};
// A record's holders or a key's share targets: up to 6 inline (k + 1 for k up to 5), more on the
// heap. Read at every holder look-up and digest: a vector's separate heap block was one more
// cold line each time.
using site_list = boost::container::small_vector<site_index, 6>;

class site_indexes {
 public:
  // The index of `site_id`: its own if it has one, else the next unused.
  site_index assign(const std::string& site_id);
  std::optional<site_index> find(std::string_view site_id) const;
  // The id of an index handed out (references stay valid: a deque never moves its strings).
  const std::string& id_of(site_index index) const { return ids_[index]; }
  std::size_t size() const { return ids_.size(); }

 private:
  std::deque<std::string> ids_;  // by index
  hash_slots by_id_;
};

}  // namespace dm2::dht
