#include "dm2/sim/processing.hpp"

#include <cmath>

namespace dm2::dht {

std::int64_t service_us(const processing_costs& costs, const message& m) {
  double us = costs.message_us;
  if (auto* p = std::get_if<push_records>(&m)) us += costs.store_us + costs.verify_us * static_cast<double>(p->records.size());
  else if (auto* s = std::get_if<push_shares>(&m)) us += costs.store_us * static_cast<double>(s->shares.size());
  else if (std::holds_alternative<query_request>(m) || std::holds_alternative<subtree_request>(m)) us += costs.query_us;
  else if (auto* a = std::get_if<query_answer>(&m)) us += costs.hit_us * static_cast<double>(a->hits.size());
  else if (auto* t = std::get_if<subtree_answer>(&m))
    us += (costs.hit_us + costs.verify_us) * static_cast<double>(t->hits.size());
  return std::llround(us);
}

}  // namespace dm2::dht
