#include "record_index.hpp"

namespace dm2::dht {

namespace {

template <typename T>
std::uint64_t mix(const T& v, std::uint64_t h) {
  return fingerprint(std::string_view(reinterpret_cast<const char*>(&v), sizeof v), h);
}

}  // namespace

void record_index::clear() {
  for (auto& [id, p] : peers_) touch(id, p);  // their digests go: the next round looks at them
  buckets_.clear();
  bucket_of_.clear();
  unowed_.clear();
  peers_.clear();
  peer_at_.clear();
  print_ = 0;
  built = false;
}

std::uint64_t record_index::holders_print(const held_record& h) {
  std::uint64_t x = fingerprint(h.summary.lfn);
  for (const auto& site : h.holders) x = fingerprint(site, x);
  return x;
}

// Adds (or takes back) h's contribution to the print and to its peers' digests. XOR undoes
// itself; the counts say when a bucket (or a peer) has no record left.
void record_index::account(const held_record& h, bool add) {
  print_ ^= holders_print(h);
  for (const auto& id : h.holders) {
    if (id == self_) continue;
    auto at = peer_at_.find(id);
    if (at == peer_at_.end()) at = peer_at_.emplace(id, &peers_[id]).first;
    auto& p = *at->second;
    p.stale = true;
    touch(id, p);
    auto& c = p.cells[h.bucket];
    c.all ^= h.hash;
    c.all_count += add ? 1 : -1;
    if (h.owed) {
      c.owed ^= h.hash;
      c.owed_count += add ? 1 : -1;
    }
    if (c.all_count == 0) p.cells.erase(h.bucket);
    if (p.cells.empty()) {
      peer_at_.erase(at);
      peers_.erase(id);
    }
  }
}

void record_index::put(held_record h) {
  erase(h.summary.lfn);
  account(h, true);
  auto lfn = h.summary.lfn;
  bucket_of_[lfn] = h.bucket;
  auto& held = buckets_[h.bucket][lfn] = std::move(h);
  if (!held.owed && !held.holders.empty()) unowed_[lfn] = &held;
}

void record_index::erase(const std::string& lfn) {
  auto at = bucket_of_.find(lfn);
  if (at == bucket_of_.end()) return;
  auto b = buckets_.find(at->second);
  auto it = b->second.find(lfn);
  account(it->second, false);
  unowed_.erase(lfn);
  b->second.erase(it);
  if (b->second.empty()) buckets_.erase(b);
  bucket_of_.erase(at);
}

void record_index::touch(const std::string& id, peer_state& p) {
  if (p.touched == touch_round_) return;
  p.touched = touch_round_;
  touched_.push_back(id);
}

std::vector<std::string> record_index::take_touched() {
  ++touch_round_;
  return std::exchange(touched_, {});
}

const record_index::bucket_records* record_index::bucket(std::uint32_t b) const {
  auto it = buckets_.find(b);
  return it == buckets_.end() ? nullptr : &it->second;
}

const peer_digests* record_index::peer(const std::string& peer) {
  auto it = peer_at_.find(peer);
  return it == peer_at_.end() ? nullptr : &digests_of(*it->second);
}

const peer_digests& record_index::digests_of(peer_state& p) {
  if (!p.stale) return p.digests;
  auto& d = p.digests;
  d.digest.clear();
  d.owed_digest.clear();
  d.print = fingerprint({});
  d.unowed = false;
  for (const auto& [b, c] : p.cells) {
    d.digest.emplace_back(b, c.all);
    if (c.owed_count > 0) d.owed_digest.emplace_back(b, c.owed);
    if (c.owed_count != c.all_count) d.unowed = true;
    d.print = mix(c.all, mix(b, d.print));
  }
  p.stale = false;
  return d;
}

}  // namespace dm2::dht
