#include "record_index.hpp"

#include <algorithm>

namespace dm2::dht {

void record_index::clear() {
  peers_.for_each([&](site_index id, peer_state& p) { touch(id, p); });  // their digests go: the next round looks at them
  buckets_.clear();
  by_lfn_.clear();
  held_.clear();
  held_free_.clear();
  unowed_.clear();
  peers_.clear();
  print_ = 0;
  built = false;
}

std::uint64_t record_index::holders_print(const held_record& h) {
  std::uint64_t x = fingerprint(h.summary.lfn);
  for (auto site : h.holders) x = fingerprint_value(site, x);
  return x;
}

// Adds (or takes back) h's contribution to the print and to its peers' digests. XOR undoes
// itself; the counts say when a bucket (or a peer) has no record left.
void record_index::account(const held_record& h, bool add) {
  print_ ^= holders_print(h);
  for (auto id : h.holders)
    if (id != self_) account_peer(id, h, add);
}

void record_index::account_peer(site_index id, const held_record& h, bool add) {
  auto& p = peers_[id];
  if (add) p.added = ++additions_;
  touch(id, p);
  auto slot = std::lower_bound(p.cells.begin(), p.cells.end(), h.bucket,
                               [](const auto& x, std::uint32_t b) { return x.first < b; });
  if (slot == p.cells.end() || slot->first != h.bucket) slot = p.cells.insert(slot, {h.bucket, cell{}});
  auto& c = slot->second;
  c.all ^= h.hash;
  c.all_count += add ? 1 : -1;
  if (h.owed) {
    c.owed ^= h.hash;
    c.owed_count += add ? 1 : -1;
  }
  if (c.all_count == 0) p.cells.erase(slot);
  if (p.cells.empty()) peers_.erase(id);
}

// Takes back `before`'s contribution and adds `after`'s, for the same LFN. A peer among both
// records' holders whose cell would get the same hash back is left alone: not touched, its
// digests not recomputed (a placement move changes one or two holders of a record; re-indexing
// moved records was a sixth of dm2-sim's steady state at 10,000 sites).
void record_index::reaccount(const held_record& before, const held_record& after) {
  bool same_cell = before.bucket == after.bucket && before.hash == after.hash && before.owed == after.owed;
  auto kept = [&](site_index id, const held_record& other) {
    return same_cell && std::find(other.holders.begin(), other.holders.end(), id) != other.holders.end();
  };
  print_ ^= holders_print(before) ^ holders_print(after);
  // Additions first: a peer on both sides never drops to an empty cell in between.
  for (auto id : after.holders)
    if (id != self_ && !kept(id, before)) account_peer(id, after, true);
  for (auto id : before.holders)
    if (id != self_ && !kept(id, after)) account_peer(id, before, false);
}

void record_index::put(held_record h) {
  auto hash = std::hash<std::string>{}(h.summary.lfn);
  auto at = slot_of(hash, h.summary.lfn);
  if (at && held_[*at]->bucket == h.bucket) {
    // Re-indexed in place: the same node, no erase and re-insert in three maps.
    auto& held = *held_[*at];
    reaccount(held, h);
    held = std::move(h);
    if (!held.owed && !held.holders.empty())
      unowed_.insert_or_assign(held.summary.lfn, &held);
    else
      unowed_.erase(held.summary.lfn);
    return;
  }
  erase(h.summary.lfn);
  account(h, true);
  auto lfn = h.summary.lfn;
  auto b = bucket_slot(h.bucket);
  if (b == buckets_.end() || b->first != h.bucket) b = buckets_.insert(b, {h.bucket, {}});
  auto& held = b->second[lfn] = std::move(h);
  std::uint32_t slot = static_cast<std::uint32_t>(held_.size());
  if (held_free_.empty()) {
    held_.push_back(&held);
  } else {
    slot = held_free_.back();
    held_free_.pop_back();
    held_[slot] = &held;
  }
  by_lfn_.insert(hash, slot);
  if (!held.owed && !held.holders.empty()) unowed_[lfn] = &held;
}

void record_index::erase(const std::string& lfn) {
  auto hash = std::hash<std::string>{}(lfn);
  auto at = slot_of(hash, lfn);
  if (!at) return;
  by_lfn_.erase(hash, *at);
  held_free_.push_back(*at);
  auto b = bucket_slot(held_[*at]->bucket);
  auto it = b->second.find(lfn);
  account(it->second, false);
  unowed_.erase(lfn);
  b->second.erase(it);  // `lfn` may be the erased record's own name: not read after
  if (b->second.empty()) buckets_.erase(b);
}

void record_index::touch(site_index id, peer_state& p) {
  if (p.touched == touch_round_) return;
  p.touched = touch_round_;
  touched_.push_back(id);
}

std::vector<site_index> record_index::take_touched() {
  ++touch_round_;
  return std::exchange(touched_, {});
}

std::vector<std::pair<std::uint32_t, record_index::bucket_records>>::iterator record_index::bucket_slot(std::uint32_t b) {
  return std::lower_bound(buckets_.begin(), buckets_.end(), b, [](const auto& x, std::uint32_t v) { return x.first < v; });
}

const record_index::bucket_records* record_index::bucket(std::uint32_t b) const {
  auto it = std::lower_bound(buckets_.begin(), buckets_.end(), b, [](const auto& x, std::uint32_t v) { return x.first < v; });
  return it == buckets_.end() || it->first != b ? nullptr : &it->second;
}

const peer_digests* record_index::peer(site_index peer) {
  const auto* p = peers_.find(peer);
  return p ? &digests_of(*p) : nullptr;
}

const peer_digests& record_index::digests_of(const peer_state& p) {
  auto& d = digests_;
  d.digest.clear();
  d.owed_digest.clear();
  d.print = fingerprint({});
  d.unowed = false;
  d.added = p.added;
  for (const auto& [b, c] : p.cells) {
    d.digest.emplace_back(b, c.all);
    if (c.owed_count > 0) d.owed_digest.emplace_back(b, c.owed);
    if (c.owed_count != c.all_count) d.unowed = true;
    d.print = fingerprint_value(c.all, fingerprint_value(b, d.print));
  }
  return d;
}

}  // namespace dm2::dht
