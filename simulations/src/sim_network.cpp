#include "dm2/sim/sim_network.hpp"

namespace dm2::dht {

sim_network::sim_network(manual_clock& time, sim_network_settings settings)
    : time_(time), settings_(settings), rng_(settings.seed), next_tick_(time.now()) {
  if (settings_.tick_interval < millis(1)) settings_.tick_interval = millis(1);
}

void sim_network::attach(replicator* r) {
  sites_[r->self()] = r;
  by_id_[r->self()] = r;
  alive_[r->self()] = true;
}

void sim_network::attach_handler(const std::string& site_id, extra_handler h) {
  extras_[site_id] = std::move(h);
}

void sim_network::set_alive(const std::string& site_id, bool alive) { alive_[site_id] = alive; }

void sim_network::set_partition(
    std::function<bool(const std::string& from, const std::string& to)> blocked) {
  blocked_ = std::move(blocked);
}

bool sim_network::alive(const std::string& site_id) const {
  auto it = alive_.find(site_id);
  return it != alive_.end() && it->second;
}

void sim_network::send(const std::string& from_site, const std::string& to_site, message m) {
  ++sent_;
  ++sent_by_type_[m.index()];
  if (blocked_ && blocked_(from_site, to_site)) return;
  if (settings_.loss_rate > 0 &&
      std::uniform_real_distribution<double>(0, 1)(rng_) < settings_.loss_rate)
    return;
  auto jitter = settings_.jitter.count() > 0
                    ? std::uniform_int_distribution<millis::rep>(0, settings_.jitter.count())(rng_)
                    : 0;
  std::uint32_t slot;
  if (free_slots_.empty()) {
    slot = static_cast<std::uint32_t>(slab_.size());
    slab_.push_back(envelope{from_site, to_site, std::move(m)});
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
    slab_[slot] = envelope{from_site, to_site, std::move(m)};
  }
  auto base = settings_.pair_latency ? settings_.pair_latency(from_site, to_site) : settings_.latency;
  queue_.push(slot_key{time_.now() + base + millis(jitter), seq_++, slot});
}

void sim_network::tick_all() {
  for (auto& [id, r] : sites_) {
    if (!alive(id)) continue;
    r->tick();
    if (auto x = extras_.find(id); x != extras_.end() && x->second.tick) x->second.tick();
  }
}

void sim_network::run_until(millis until) {
  for (;;) {
    bool have_msg = !queue_.empty();
    millis next_msg = have_msg ? queue_.top().at : until + millis(1);
    millis next = std::min(next_msg, next_tick_);
    if (next > until) break;
    if (next > time_.now()) time_.set(next);
    if (have_msg && next_msg <= next_tick_) {
      auto slot = queue_.top().slot;
      queue_.pop();
      envelope e = std::move(slab_[slot]);
      free_slots_.push_back(slot);
      auto it = by_id_.find(e.to);
      if (it != by_id_.end() && alive(e.to)) {
        ++delivered_;
        it->second->on_message(e.from, e.m);
        if (auto x = extras_.find(e.to); x != extras_.end() && x->second.on_message)
          x->second.on_message(e.from, e.m);
      }
    } else {
      next_tick_ = next_tick_ + settings_.tick_interval;
      tick_all();
    }
  }
  if (until > time_.now()) time_.set(until);
}

millis sim_network::run_until_quiet(millis limit) {
  while (!queue_.empty() && time_.now() < limit) run_until(std::min(queue_.top().at, limit));
  return time_.now();
}

}  // namespace dm2::dht
