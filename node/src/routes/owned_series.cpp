#include "owned_series.hpp"

namespace dm2::node {

std::vector<dht::record> owned_series_where(const route_context& c, const std::function<bool(const std::string&)>& wanted,
                                            std::size_t limit) {
  std::vector<dht::record> out;
  std::string after;
  auto self = c.self_site();
  while (out.size() < limit) {
    auto page = c.overlay->held_records(after, 1000);
    if (page.empty()) break;
    after = page.back().lfn;
    for (auto& r : page)
      if (r.owner == self && out.size() < limit && wanted(r.lfn)) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace dm2::node
