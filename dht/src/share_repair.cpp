#include "share_repair.hpp"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/share_repair.hpp"
#include "dm2/crypto/shares.hpp"

namespace dm2::dht {

namespace {

constexpr std::size_t max_sessions = 4096;  // per role: bounds what peers can make us keep
// Pieces and sums held at once, all sessions together: a peer can name sessions and key ids at
// will, so the bytes they make us buffer need their own bound.
constexpr std::size_t max_buffered_bytes = 64 * 1024 * 1024;
constexpr std::size_t max_id_bytes = 128;
constexpr std::size_t max_key_id_bytes = 64;
// A piece or sum is one share body: a secret of up to 64 KiB plus its 16-byte check.
constexpr std::size_t max_piece_bytes = crypto::max_shared_secret_size + crypto::share_check_size;

void wipe(std::string& s) { OPENSSL_cleanse(s.data(), s.size()); }

bool sized(const std::string& s, std::size_t lo, std::size_t hi) {
  return s.size() >= lo && s.size() <= hi;
}

const std::string* helper_site(const repair_plan& plan, std::uint32_t index) {
  for (const auto& [site, i] : plan.helpers)
    if (i == index) return &site;
  return nullptr;
}

}  // namespace

share_repairer::share_repairer(context c) : c_(std::move(c)) {}

share_repairer::~share_repairer() {
  for (auto& [id, h] : helping_)
    for (auto& [i, piece] : h.pieces) wipe(piece.second);
  for (auto& [id, r] : receiving_)
    for (auto& [i, sum] : r.sums) wipe(sum);
}

void share_repairer::forget(std::string& bytes) {
  buffered_ -= bytes.size();
  wipe(bytes);
  bytes.clear();
}

bool share_repairer::buffer(std::size_t bytes) {
  if (buffered_ + bytes > max_buffered_bytes) return false;
  buffered_ += bytes;
  return true;
}

void share_repairer::refuse(const std::string& from, const char* reason) {
  ++c_.counters->repair_refused;
  spdlog::debug("event=share_repair_refused peer={} reason={}", from, reason);
}

std::vector<std::string> share_repairer::targets(const key_share& s) const {
  std::vector<std::string> out;
  for (auto t : c_.closest(s.key_id, s.count, c_.index_of(s.owner))) out.push_back(c_.site_id(t));
  return out;
}

bool share_repairer::repairable_kind(const key_share& s) const {
  return s.holder == c_.self && s.owner != c_.self && s.threshold >= 2 && s.threshold <= s.count &&
         s.count <= 255 && !s.key_id.empty();
}

const std::vector<site_index>& share_repairer::owners() const {
  auto generation = c_.store->share_generation();
  if (generation == 0 || generation != owners_generation_) {
    owners_.clear();
    c_.store->for_each_share([&](const key_share& s) {
      if (repairable_kind(s)) owners_.push_back(c_.index_of(s.owner));  // no_site is never live
    });
    owners_generation_ = generation;
  }
  return owners_;
}

std::vector<key_share> share_repairer::repairable_shares() const {
  std::vector<key_share> out;
  if (!c_.keyring) return out;
  const auto& p = c_.placement();
  const auto& owners = this->owners();
  if (std::all_of(owners.begin(), owners.end(), [&](site_index o) { return p.at(o) != nullptr; })) return out;
  c_.store->for_each_share([&](const key_share& s) {
    if (repairable_kind(s) && !p.find(s.owner)) out.push_back(s);
  });
  return out;
}

std::uint64_t share_repairer::print() {
  if (!c_.keyring) return 0;
  auto generation = c_.store->share_generation();
  if (print_ && generation != 0 && generation == print_generation_) return *print_;
  std::uint64_t h = 0;
  bool keep = generation != 0;
  print_.reset();
  print_keys_.clear();
  const auto& p = c_.placement();
  const auto& owners = this->owners();  // the shares below, in the same order
  std::size_t next = 0;
  c_.store->for_each_share([&](const key_share& s) {
    if (!repairable_kind(s)) return;
    auto owner = next < owners.size() ? owners[next++] : c_.index_of(s.owner);
    // Every held share's targets are looked up, repairable or not: the memoized placement
    // excludes the owner, so the owner's going down or coming back drops it, and the replicator
    // (which recomputes this print only after a drop) sees the change at once.
    const auto& ts = c_.closest(s.key_id, s.count, owner);
    print_keys_.push_back(s.key_id);
    if (p.at(owner)) return;
    // An owner the view never listed has no index: its first appearance drops nothing.
    keep = keep && owner != no_site;
    std::uint64_t x = fingerprint(s.key_id);
    for (auto t : ts) x = fingerprint_value(t, x);
    h ^= x;
  });
  std::sort(print_keys_.begin(), print_keys_.end());
  print_keys_.erase(std::unique(print_keys_.begin(), print_keys_.end()), print_keys_.end());
  print_generation_ = generation;
  if (keep)
    print_ = h;
  else
    print_.reset();
  return h;
}

void share_repairer::placements_dropped(const std::vector<std::string>& names) {
  if (!print_) return;
  for (const auto& name : names)
    if (std::binary_search(print_keys_.begin(), print_keys_.end(), name)) return print_.reset();
}

bool share_repairer::holds_key(const std::string& key_id) const {
  bool held = false;
  c_.store->for_each_share([&](const key_share& s) { held = held || s.key_id == key_id; });
  return held;
}

void share_repairer::start_round() {
  round_keys_.clear();
  inventory_.clear();
  answered_.clear();
  for (auto& s : repairable_shares()) {
    // The coordinator holds the lowest live index, and a repair needs t live indexes: a holder
    // of an index above n - t + 1 can never coordinate, so it skips the inventory (it answers
    // the others' requests all the same).
    if (s.index > s.count - s.threshold + 1) continue;
    auto it = round_keys_.find(s.key_id);
    if (it == round_keys_.end() || s.index < it->second.index) round_keys_[s.key_id] = std::move(s);
  }
  std::erase_if(settled_, [&](const auto& e) { return !round_keys_.count(e.first); });
  asked_.clear();
  const auto& p = c_.placement();
  std::map<std::string, std::vector<std::string>> ask;  // site -> key ids
  for (auto it = round_keys_.begin(); it != round_keys_.end();) {
    const auto& [key_id, mine] = *it;
    const auto& tg = targets(mine);
    if (settled(mine, tg)) {
      it = round_keys_.erase(it);
      continue;
    }
    settled_.erase(key_id);
    auto& asked = asked_[key_id];
    for (const auto& t : tg) {
      const auto* info = p.find(t);
      asked.emplace_back(t, info ? info->incarnation : 0);
      if (t != c_.self) ask[t].push_back(key_id);
    }
    ++it;
  }
  if (round_keys_.empty()) {
    coordinate_at_.reset();
    return;
  }
  reasks_ = 0;
  request_inventories(ask);
}

bool share_repairer::settled(const key_share& mine, const std::vector<std::string>& tg) const {
  auto it = settled_.find(mine.key_id);
  if (it == settled_.end() || it->second.index != mine.index || it->second.targets.size() != tg.size()) return false;
  const auto recheck = c_.settings->repair_period * static_cast<long>(c_.settings->agreed_recheck_rounds);
  if (recheck.count() != 0 && c_.time->now() - it->second.at >= recheck) return false;
  const auto& p = c_.placement();
  for (std::size_t i = 0; i < tg.size(); ++i) {
    const auto& [site, incarnation] = it->second.targets[i];
    const auto* info = p.find(site);
    if (site != tg[i] || !info || info->incarnation != incarnation) return false;
  }
  return true;
}

void share_repairer::settle(const key_share& mine) {
  auto asked = asked_.find(mine.key_id);
  if (asked == asked_.end()) return;
  settled_[mine.key_id] = settled_key{mine.index, asked->second, c_.time->now()};
}

void share_repairer::request_inventories(std::map<std::string, std::vector<std::string>>& ask) {
  const auto chunk = c_.settings->max_entries_per_message;
  for (auto& [site, keys] : ask)
    for (std::size_t i = 0; i < keys.size(); i += chunk) {
      repair_inventory_request m;
      auto end = std::min(keys.size(), i + chunk);
      m.key_ids.assign(keys.begin() + static_cast<std::ptrdiff_t>(i),
                       keys.begin() + static_cast<std::ptrdiff_t>(end));
      c_.send(site, std::move(m));
    }
  coordinate_at_ = c_.time->now() + c_.settings->share_inventory_wait;
}

void share_repairer::tick() {
  expire();
  if (!coordinate_at_ || c_.time->now() < *coordinate_at_) return;
  coordinate_at_.reset();
  std::map<std::string, std::vector<std::string>> silent;  // site -> key ids to ask again
  // Keys coordinated are done for this round; those waiting on a silent target stay.
  for (auto it = round_keys_.begin(); it != round_keys_.end();)
    it = coordinate_key(it->second, silent) ? std::next(it) : round_keys_.erase(it);
  // A lost request or answer would otherwise cost a whole period: ask the silent targets again
  // (a few times a round) and coordinate those keys once they answer.
  if (!silent.empty() && reasks_ < max_reasks) {
    ++reasks_;
    request_inventories(silent);
  }
}

void share_repairer::expire() {
  auto now = c_.time->now();
  if (now < next_expiry_) return;
  std::erase_if(started_, [&](const auto& e) { return e.second <= now; });
  for (auto it = helping_.begin(); it != helping_.end();) {
    if (it->second.expires > now) {
      ++it;
      continue;
    }
    for (auto& [i, piece] : it->second.pieces) forget(piece.second);
    it = helping_.erase(it);
  }
  for (auto it = receiving_.begin(); it != receiving_.end();) {
    if (it->second.expires > now) {
      ++it;
      continue;
    }
    for (auto& [i, sum] : it->second.sums) forget(sum);
    it = receiving_.erase(it);
  }
  next_expiry_ = millis::max();
  for (const auto& [key, until] : started_) due(until);
  for (const auto& [session, h] : helping_) due(h.expires);
  for (const auto& [session, r] : receiving_) due(r.expires);
}

// Every asked key gets an answer: its indexes held here, or index 0 for none. Silence then
// means a lost message, never "holds nothing" (the coordinator tells them apart).
void share_repairer::on_inventory_request(const std::string& from,
                                          const repair_inventory_request& m) {
  if (m.key_ids.size() > c_.settings->max_entries_per_message) return refuse(from, "oversized");
  std::set<std::string> wanted(m.key_ids.begin(), m.key_ids.end());
  share_inventory_reply reply;
  std::set<std::string> held;
  c_.store->for_each_share([&](const key_share& s) {
    if (s.holder != c_.self || !wanted.count(s.key_id)) return;
    reply.held.emplace_back(s.key_id, s.index);
    held.insert(s.key_id);
  });
  for (const auto& key_id : wanted)
    if (!held.count(key_id)) reply.held.emplace_back(key_id, 0);
  if (!reply.held.empty()) c_.send(from, std::move(reply));
}

bool share_repairer::on_inventory_entry(const std::string& from, const std::string& key_id,
                                        std::uint32_t index) {
  auto it = round_keys_.find(key_id);
  if (it == round_keys_.end()) return false;
  if (index > it->second.count) return true;
  answered_[key_id].insert(from);
  if (index >= 1) inventory_[key_id][index].insert(from);
  return true;
}

// The coordinator is the live holder with the lowest index, as this site sees the inventory.
// Two sites may both believe they coordinate (their views differ for a moment): each repair is
// its own session with fresh random pieces, every piece and sum names its session, and any t
// correct shares of one split interpolate the same polynomial, so every repair of index j that
// completes yields exactly f(j) — at worst a surplus copy, never a different share.
bool share_repairer::coordinate_key(const key_share& mine,
                                    std::map<std::string, std::vector<std::string>>& silent) {
  const auto& p = c_.placement();
  if (p.find(mine.owner)) return false;  // the owner is back: it places its shares itself
  std::map<std::uint32_t, std::string> live{{mine.index, c_.self}};  // index -> one holder
  std::set<std::string> holding{c_.self};
  for (const auto& [index, sites] : inventory_[mine.key_id])
    for (const auto& s : sites)
      if (p.find(s)) {
        live.emplace(index, s);
        holding.insert(s);
      }
  if (live.begin()->second != c_.self || live.size() >= mine.count) {
    settle(mine);  // nothing for us to do while the targets stay as they answered
    return false;
  }
  // A live target that did not answer may hold any "missing" index: repairing that index onto
  // another target would leave two copies of it and no free target for the index really
  // missing — stuck until the owner returns. So it waits until every target answered (tick()
  // asks the silent ones again; lost messages only delay the repair).
  const auto& tg = targets(mine);
  const auto& answered = answered_[mine.key_id];
  bool all_answered = true;
  for (const auto& t : tg)
    if (t != c_.self && !answered.count(t)) {
      silent[t].push_back(mine.key_id);
      all_answered = false;
    }
  if (!all_answered) return true;
  if (live.size() < mine.threshold) {
    ++c_.counters->repairs_impossible;
    spdlog::warn("event=share_repair_impossible live_shares={} threshold={}", live.size(),
                 mine.threshold);
    return false;
  }
  repair_plan base;
  base.key_id = mine.key_id;
  base.owner = mine.owner;
  base.count = mine.count;
  base.threshold = mine.threshold;
  std::set<std::string> chosen;  // a site holding two indexes (a transient surplus) helps once
  for (const auto& [index, site] : live)
    if (base.helpers.size() < mine.threshold && chosen.insert(site).second)
      base.helpers.emplace_back(site, index);
  if (base.helpers.size() < mine.threshold) return false;
  std::vector<std::string> free_targets;
  for (const auto& t : tg)
    if (!holding.count(t)) free_targets.push_back(t);
  auto next_free = free_targets.begin();
  auto now = c_.time->now();
  for (std::uint32_t j = 1; j <= mine.count && next_free != free_targets.end(); ++j) {
    if (live.count(j)) continue;
    auto started = started_.find({mine.key_id, j});
    if (started != started_.end() && started->second > now) continue;  // still in flight
    repair_plan plan = base;
    plan.session = crypto::to_hex(crypto::random_bytes(16));
    plan.target_index = j;
    plan.target_site = *next_free++;
    started_[{mine.key_id, j}] = now + c_.settings->share_repair_timeout;
    due(now + c_.settings->share_repair_timeout);
    ++c_.counters->repairs_started;
    spdlog::info("event=share_repair_started index={} target={} helpers={}", j, plan.target_site,
                 plan.helpers.size());
    for (const auto& [site, index] : plan.helpers)
      if (site != c_.self) c_.send(site, repair_start{plan});
    on_start(c_.self, plan);
  }
  return false;
}

// Checks every field a peer could get wrong, and that the repair fits our own view: the owner is
// down and the target is one of the key's share targets.
bool share_repairer::plan_is_sound(const repair_plan& plan) const {
  if (!sized(plan.session, 16, 64) || !sized(plan.key_id, 1, max_key_id_bytes) ||
      !sized(plan.owner, 1, max_id_bytes) || !sized(plan.target_site, 1, max_id_bytes))
    return false;
  if (plan.threshold < 2 || plan.threshold > plan.count || plan.count > 255 ||
      plan.helpers.size() != plan.threshold || plan.target_index < 1 ||
      plan.target_index > plan.count || plan.target_site == plan.owner)
    return false;
  std::set<std::string> sites;
  std::uint32_t previous = 0;
  for (const auto& [site, index] : plan.helpers) {
    // Strictly increasing indexes: distinct, and the coordinator (lowest) first.
    if (!sized(site, 1, max_id_bytes) || index <= previous || index > plan.count ||
        index == plan.target_index || site == plan.target_site || site == plan.owner ||
        !sites.insert(site).second)
      return false;
    previous = index;
  }
  const auto& p = c_.placement();
  if (p.find(plan.owner)) return false;
  const auto& tg = c_.closest(plan.key_id, plan.count, c_.index_of(plan.owner));
  return std::any_of(tg.begin(), tg.end(), [&](site_index t) { return c_.site_id(t) == plan.target_site; });
}

void share_repairer::on_start(const std::string& from, const repair_plan& plan) {
  if (!c_.keyring) return refuse(from, "no_keyring");
  if (!plan_is_sound(plan) || from != plan.helpers.front().first) return refuse(from, "plan");
  std::uint32_t my_index = 0;
  for (const auto& [site, index] : plan.helpers)
    if (site == c_.self) my_index = index;
  if (my_index == 0) return refuse(from, "not_a_helper");
  auto it = helping_.find(plan.session);
  if (it == helping_.end()) {
    if (helping_.size() >= max_sessions) return refuse(from, "too_many_sessions");
    it = helping_.emplace(plan.session, helper_session{}).first;
    it->second.expires = c_.time->now() + c_.settings->share_repair_timeout;
    due(it->second.expires);
  } else if (it->second.plan) {
    return refuse(from, "duplicate_start");
  }
  auto& h = it->second;
  h.plan = plan;
  h.my_index = my_index;
  // Pieces that arrived before the plan: keep only those from the helper holding that index.
  for (auto p = h.pieces.begin(); p != h.pieces.end();) {
    const auto* site = helper_site(plan, p->first);
    if (site && *site == p->second.first && p->first != my_index) {
      ++p;
      continue;
    }
    forget(p->second.second);
    refuse(p->second.first, "piece_sender");
    p = h.pieces.erase(p);
  }
  contribute(plan.session, h);
  finish_if_complete(plan.session);
}

// Step 1: open our share, split λ·s into t pieces, keep ours, send the others.
void share_repairer::contribute(const std::string& session, helper_session& h) {
  const auto& plan = *h.plan;
  std::optional<key_share> mine;
  c_.store->for_each_share([&](const key_share& s) {
    if (s.key_id == plan.key_id && s.index == h.my_index && s.holder == c_.self &&
        s.owner == plan.owner && s.count == plan.count && s.threshold == plan.threshold)
      mine = s;
  });
  auto drop = [&](const char* why) {
    refuse(plan.helpers.front().first, why);
    for (auto& [i, piece] : h.pieces) forget(piece.second);
    helping_.erase(session);
  };
  if (!mine) return drop("share_not_held");
  auto raw = c_.keyring->open(*mine);
  if (!raw) return drop("share_does_not_open");
  std::vector<std::uint8_t> indexes;
  for (const auto& [site, index] : plan.helpers) indexes.push_back(static_cast<std::uint8_t>(index));
  auto info = crypto::inspect_share(*raw);
  auto pieces = info && info->index == h.my_index
                    ? crypto::repair_contribution(*raw, indexes,
                                                  static_cast<std::uint8_t>(plan.target_index))
                    : result<std::vector<std::string>>(fail(errc::integrity_failure, "index"));
  wipe(*raw);
  if (!pieces) return drop("share_does_not_match");
  ++c_.counters->repairs_contributed;
  for (std::size_t k = 0; k < plan.helpers.size(); ++k) {
    const auto& site = plan.helpers[k].first;
    if (site == c_.self) {
      buffered_ += (*pieces)[k].size();  // our own share's piece: never refused
      h.pieces[h.my_index] = {c_.self, std::move((*pieces)[k])};
    } else
      c_.send(site, repair_piece{session, h.my_index, std::move((*pieces)[k])});
  }
}

void share_repairer::on_piece(const std::string& from, const repair_piece& m) {
  if (!sized(m.session, 16, 64) || !sized(m.piece, 1, max_piece_bytes) || m.from_index < 1 ||
      m.from_index > 255)
    return refuse(from, "piece");
  auto it = helping_.find(m.session);
  if (it == helping_.end()) {
    // The plan may arrive after a piece (different senders): keep it until the timeout.
    if (helping_.size() >= max_sessions) return refuse(from, "too_many_sessions");
    it = helping_.emplace(m.session, helper_session{}).first;
    it->second.expires = c_.time->now() + c_.settings->share_repair_timeout;
    due(it->second.expires);
  }
  auto& h = it->second;
  if (h.plan) {
    const auto* site = helper_site(*h.plan, m.from_index);
    if (!site || *site != from || m.from_index == h.my_index) return refuse(from, "piece_sender");
  }
  if (h.pieces.count(m.from_index) || h.pieces.size() >= 255) return refuse(from, "duplicate_piece");
  if (!buffer(m.piece.size())) return refuse(from, "buffer_full");
  h.pieces[m.from_index] = {from, m.piece};
  finish_if_complete(m.session);
}

// Step 2: with our piece and one from every other helper, send their XOR to the target.
void share_repairer::finish_if_complete(const std::string& session) {
  auto it = helping_.find(session);
  if (it == helping_.end()) return;
  auto& h = it->second;
  if (!h.plan || !h.pieces.count(h.my_index) || h.pieces.size() != h.plan->threshold) return;
  std::vector<std::string> pieces;
  for (auto& [i, piece] : h.pieces) {
    pieces.push_back(piece.second);
    forget(piece.second);
  }
  auto sum = crypto::add_pieces(pieces);
  for (auto& piece : pieces) wipe(piece);
  auto plan = std::move(*h.plan);
  auto my_index = h.my_index;
  helping_.erase(it);
  if (!sum) return refuse(plan.helpers.front().first, "piece_sizes");
  c_.send(plan.target_site, repair_sum{plan, my_index, std::move(*sum)});
}

// Step 3, at the new holder: t sums from the t helpers of one plan make the share.
void share_repairer::on_sum(const std::string& from, const repair_sum& m) {
  if (!c_.keyring) return refuse(from, "no_keyring");
  const auto& plan = m.plan;
  if (!plan_is_sound(plan) || plan.target_site != c_.self || !sized(m.sum, 1, max_piece_bytes))
    return refuse(from, "sum");
  const auto* site = helper_site(plan, m.from_index);
  if (!site || *site != from) return refuse(from, "sum_sender");
  // One share per key and site: a second index (or a second copy) is refused.
  if (holds_key(plan.key_id)) return refuse(from, "already_holds_a_share");
  auto it = receiving_.find(plan.session);
  if (it == receiving_.end()) {
    if (receiving_.size() >= max_sessions) return refuse(from, "too_many_sessions");
    it = receiving_.emplace(plan.session,
                            target_session{plan, {}, c_.time->now() + c_.settings->share_repair_timeout})
             .first;
    due(it->second.expires);
  } else if (!(it->second.plan == plan)) {
    return refuse(from, "plan_mismatch");
  }
  auto& r = it->second;
  if (r.sums.count(m.from_index)) return refuse(from, "duplicate_sum");
  if (!buffer(m.sum.size())) return refuse(from, "buffer_full");
  r.sums[m.from_index] = m.sum;
  if (r.sums.size() != plan.threshold) return;
  std::vector<std::string> sums;
  for (auto& [i, sum] : r.sums) {
    sums.push_back(sum);
    forget(sum);
  }
  receiving_.erase(it);
  auto share = crypto::assemble_repaired_share(sums, plan.threshold,
                                               static_cast<std::uint8_t>(plan.target_index));
  for (auto& sum : sums) wipe(sum);
  if (!share) return refuse(from, "sum_sizes");
  auto sealed = c_.keyring->seal_for_self(plan.key_id, *share);
  wipe(*share);
  if (!sealed) {
    spdlog::error("event=share_repair_seal_failed error=\"{}\"", sealed.err().to_string());
    return;
  }
  c_.store->put_share(key_share{plan.key_id, plan.target_index, plan.owner, c_.self,
                                std::move(*sealed), plan.count, plan.threshold});
  ++c_.counters->shares_repaired;
  spdlog::info("event=share_repaired index={} helpers={}", plan.target_index, plan.threshold);
}

}  // namespace dm2::dht
