#include "dm2/sim/sim_network.hpp"

#include <algorithm>

namespace dm2::dht {

sim_network::sim_network(manual_clock& time, sim_network_settings settings)
    : time_(time), settings_(settings), rng_(settings.seed), next_tick_(time.now()),
      processing_(settings.processing.any()) {
  if (settings_.tick_interval < millis(1)) settings_.tick_interval = millis(1);
}

std::optional<std::uint32_t> sim_network::find_slot(const std::string& site_id) const {
  return slot_by_id_.find(std::hash<std::string>{}(site_id), [&](std::uint32_t i) { return slots_[i].id == site_id; });
}

std::uint32_t sim_network::slot_of(const std::string& site_id) {
  if (auto i = find_slot(site_id)) return *i;
  auto i = static_cast<std::uint32_t>(slots_.size());
  slots_.emplace_back().id = site_id;
  slot_by_id_.insert(std::hash<std::string>{}(site_id), i);
  return i;
}

void sim_network::attach(replicator* r) {
  auto i = slot_of(r->self());
  if (!slots_[i].engine) {
    tick_order_.emplace_back(r->self(), i);
    tick_order_sorted_ = false;
  }
  slots_[i].engine = r;
  slots_[i].alive = true;
  slots_[i].wake_at = millis::min();
  slots_[i].members = &r->members();
  r->wake_cell(&slots_[i].wake_at);
  if (!shared_view_ && !views_differ_) shared_view_ = &r->members();
  auto index = r->members().index_of(r->self());
  if (shared_view_ != &r->members() || !index) {
    shared_view_ = nullptr;  // indexes mean nothing across views: by id from now on
    views_differ_ = true;
    slot_by_view_index_.clear();
    return;
  }
  if (*index >= slot_by_view_index_.size()) slot_by_view_index_.resize(*index + 1, no_slot);
  slot_by_view_index_[*index] = i;
}

void sim_network::attach_handler(const std::string& site_id, extra_handler h) {
  auto& s = slots_[slot_of(site_id)];
  s.extra_ticks = static_cast<bool>(h.tick);
  s.extra_messages = static_cast<bool>(h.on_message);
  s.extra = std::move(h);
}

void sim_network::set_alive(const std::string& site_id, bool alive) {
  auto& s = slots_[slot_of(site_id)];
  if (s.alive && !alive) {
    ++s.lives;
    s.busy_until_us = 0;
  }
  s.alive = alive;
  s.wake_at = millis::min();
}

void sim_network::set_partition(
    std::function<bool(const std::string& from, const std::string& to)> blocked) {
  blocked_ = std::move(blocked);
}

bool sim_network::alive(const std::string& site_id) const {
  auto i = find_slot(site_id);
  return i && slots_[*i].alive;
}

void sim_network::send(const std::string& from_site, const std::string& to_site, message m) {
  enqueue(from_site, no_site, slot_of(to_site), to_site, std::move(m));
}

void sim_network::send_indexed(const std::string& from_site, site_index from, const std::string& to_site,
                               site_index to, message m) {
  auto slot = shared_view_ && to < slot_by_view_index_.size() ? slot_by_view_index_[to] : no_slot;
  if (slot == no_slot) return send(from_site, to_site, std::move(m));
  enqueue(from_site, from, slot, to_site, std::move(m));
}

void sim_network::enqueue(const std::string& from_site, site_index from, std::uint32_t to, const std::string& to_site,
                          message m) {
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
    slab_.push_back(envelope{from_site, from, to, std::move(m)});
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
    slab_[slot] = envelope{from_site, from, to, std::move(m)};
  }
  auto base = settings_.pair_latency ? settings_.pair_latency(from_site, to_site) : settings_.latency;
  queue_.push(slot_key{time_.now() + base + millis(jitter), seq_++, slot, to});
}

millis sim_network::queue_at_site(envelope& e) {
  auto& site = slots_[e.to];
  std::int64_t now_us = time_.now().count() * 1000;
  site.busy_until_us = std::max(now_us, site.busy_until_us) + service_us(settings_.processing, e.m);
  e.queued = true;
  e.life = site.lives;
  return millis((site.busy_until_us + 999) / 1000);
}

void sim_network::tick_all() {
  if (!tick_order_sorted_) {
    std::sort(tick_order_.begin(), tick_order_.end());
    tick_order_sorted_ = true;
  }
  auto now = time_.now();
  for (const auto& [id, i] : tick_order_) {
    auto& s = slots_[i];
    if (!s.alive) continue;
    // Idle until its next work, and the membership is where it was: this tick would do nothing.
    if (settings_.skip_idle_ticks && now < s.wake_at && !s.extra_ticks && s.members->version() == s.version_seen)
      continue;
    ++ticks_run_;
    s.engine->tick();
    s.version_seen = s.members->version();
    s.wake_at = s.engine->next_work();
    if (s.extra_ticks) s.extra.tick();
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
      if (processing_ && !slab_[slot].queued && slots_[slab_[slot].to].alive) {
        // Arrived: it waits for the site's earlier messages and its own handling.
        if (auto done = queue_at_site(slab_[slot]); done > time_.now()) {
          queue_.push(slot_key{done, seq_++, slot, slab_[slot].to});
          continue;
        }
      }
      envelope e = std::move(slab_[slot]);
      free_slots_.push_back(slot);
      if (!queue_.empty()) {
        // The next delivery's envelope and site, written long ago and cold by now: fetched while
        // this one is handled (their first touch was most of this loop's time at 10,000 sites).
        const auto& coming = queue_.top();
        const auto* envelope_bytes = reinterpret_cast<const char*>(&slab_[coming.slot]);
        __builtin_prefetch(envelope_bytes);
        __builtin_prefetch(envelope_bytes + 64);  // the message's first bytes
        __builtin_prefetch(&slots_[coming.to]);
      }
      auto& to = slots_[e.to];
      if (to.alive && (!e.queued || e.life == to.lives)) {
        ++delivered_;
        if (to.engine) to.engine->on_message(e.from, e.m, shared_view_ ? e.from_index : no_site);
        if (to.extra_messages) to.extra.on_message(e.from, e.m);
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
