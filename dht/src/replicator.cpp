#include "dm2/dht/replicator.hpp"

#include <spdlog/spdlog.h>

#include "closest_cache.hpp"
#include "record_index.hpp"
#include "share_repair.hpp"

#include <algorithm>

namespace dm2::dht {

namespace {

std::uint64_t entry_hash(const std::string& lfn, std::uint64_t version, std::uint64_t print) {
  return fingerprint_value(print, fingerprint_value(version, fingerprint(lfn)));
}

template <typename C, typename T>
bool contains(const C& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Orders version entries (by pointer) and LFNs together: equal_range over sorted entries.
struct lfn_order {
  bool operator()(const version_entry* e, const std::string& lfn) const { return e->lfn < lfn; }
  bool operator()(const std::string& lfn, const version_entry* e) const { return lfn < e->lfn; }
};

constexpr std::size_t max_lfn_bytes = 64;
constexpr std::size_t max_site_id_bytes = 128;

}  // namespace

const char* message_name(const message& m) { return message_name(m.index()); }

const char* message_name(std::size_t index) {
  static const char* names[] = {"digest_request", "digest_reply",          "pull_request",
                                "push_records",   "share_inventory_request", "share_inventory_reply",
                                "push_shares",    "drop_shares",           "query_request",
                                "query_answer",   "repair_inventory_request", "repair_start",
                                "repair_piece",   "repair_sum",            "subtree_request",
                                "subtree_answer"};
  static_assert(std::size(names) == std::variant_size_v<message>);
  return index < std::size(names) ? names[index] : "?";
}

replicator::replicator(std::string self_site, replication_settings settings,
                       replicator_collaborators c)
    : self_(std::move(self_site)),
      settings_(settings),
      c_(c),
      closest_(c.placements ? c.placements : std::make_shared<closest_cache>()),
      follower_(closest_->follow()),
      index_(std::make_unique<record_index>()) {
  settings_.bucket_count = std::clamp<std::size_t>(settings_.bucket_count, 1, 65536);
  if (settings_.first_round_spread > millis(0))
    next_round_ = c_.time->now() + millis(static_cast<long>(
                                       fingerprint(self_) % static_cast<std::uint64_t>(settings_.first_round_spread.count())));
  repair_ = std::make_unique<share_repairer>(share_repairer::context{
      self_, c_.time, c_.store, c_.keyring,
      [this](const std::string& to, message m) { send(to, std::move(m)); },
      [this]() -> const placement_index& { return placement(); },
      [this](const std::string& name, std::size_t count, site_index exclude) -> const site_list& {
        return closest(name, count, exclude);
      },
      [this](site_index site) -> const std::string& { return site_id(site); },
      [this](const std::string& site) { return index_of(site); }, &settings_, &counters_});
}

replicator::~replicator() { closest_->unfollow(follower_); }

std::shared_ptr<closest_cache> shared_closest_cache() { return std::make_shared<closest_cache>(); }

void replicator::sync_placement() {
  auto v = c_.members->version();
  if (synced_version_ && *synced_version_ == v) return;
  auto before = closest_->epoch(follower_);
  closest_->sync(*c_.members);
  bool kept = closest_->epoch(follower_) == before;  // not reset by a memo that lost the log
  auto changes = synced_version_ ? c_.members->changes_since(*synced_version_) : std::nullopt;
  if (changes) {
    forget_agreements(*changes);
    // The records whose placement moved are re-indexed one by one (when the index was current).
    std::vector<std::string> dropped;
    closest_->take_dropped(follower_, dropped);
    repair_->placements_dropped(dropped);
    if (kept && index_->built && index_->epoch == before) {
      moved_records_.insert(moved_records_.end(), std::make_move_iterator(dropped.begin()),
                            std::make_move_iterator(dropped.end()));
      index_->epoch = closest_->epoch(follower_);
    }
  } else {
    closest_->reset(follower_);  // the index's epoch no longer matches: rebuilt on next use
    incarnations_unknown_ = true;
  }
  synced_version_ = v;
}

void replicator::forget_agreements(std::span<const membership_change> changes) {
  for (const auto& ch : changes) {
    if (!ch.live || !watched_.test(ch.site_print % watched_.size())) continue;
    if (auto* d = peer_digests_.find(ch.index); d && d->acknowledged) {
      d->acknowledged = false;
      due_peers_.push_back(ch.index);
      agreement_voided_ = true;
    }
    for (auto& [key_id, k] : owned_keys_)
      if (k.placed && contains(k.target_sites, ch.index)) {
        k.placed = false;
        agreement_voided_ = true;
      }
  }
}

void replicator::compare_incarnations() {
  incarnations_unknown_ = false;
  peer_digests_.for_each([&](site_index peer, peer_digest& d) {
    if (d.acknowledged && d.incarnation != incarnation_of(peer)) {
      d.acknowledged = false;
      due_peers_.push_back(peer);
      agreement_voided_ = true;
    }
  });
  for (auto& entry : owned_keys_) {
    auto& k = entry.second;  // a named reference: clang 14 cannot capture a structured binding
    if (k.placed && std::any_of(k.consulted.begin(), k.consulted.end(), [&](const auto& c) {
          return contains(k.targets, c.site) && c.incarnation != incarnation_of(c.site);
        })) {
      k.placed = false;
      agreement_voided_ = true;
    }
  }
}

std::uint64_t replicator::incarnation_of(const std::string& site) {
  const auto* s = placement().find(site);
  return s ? s->incarnation : 0;
}

std::uint64_t replicator::incarnation_of(site_index site) {
  const auto* s = placement().at(site);
  return s ? s->incarnation : 0;
}

site_index replicator::index_of(const std::string& site) const {
  auto i = c_.members->index_of(site);
  return i ? *i : no_site;
}

site_index replicator::self_index() {
  if (self_index_ == no_site) self_index_ = index_of(self_);  // listed once, kept for good
  return self_index_;
}

void replicator::acknowledge(site_index peer, std::uint64_t print, std::uint64_t added) {
  auto& d = peer_digests_[peer];
  auto site_print = d.site_print != 0 ? d.site_print : fingerprint(site_id(peer));
  d = peer_digest{print, true, c_.time->now(), incarnation_of(peer), site_print, added};
  watch(d.site_print);
}

void replicator::rewatch() {
  peers_left_ = 0;
  watched_.reset();
  peer_digests_.for_each([&](site_index, const peer_digest& d) { watch(d.site_print); });
  for (const auto& [key_id, k] : owned_keys_)
    if (k.placed)
      for (const auto& t : k.targets) watch(fingerprint(t));
}

const placement_index& replicator::placement() {
  sync_placement();
  auto v = c_.members->version();
  if (!placement_version_ || *placement_version_ != v) {
    placement_ = c_.members->shared_placement();
    if (!placement_) placement_ = std::make_shared<const placement_index>(c_.members->live_sites());
    placement_version_ = v;
  }
  return *placement_;
}

const site_list& replicator::closest(const std::string& name, std::size_t count,
                                                   site_index exclude) {
  const auto& p = placement();
  return closest_->get(follower_, p, name, count, exclude);
}

const site_list& replicator::closest(const std::string& name, std::size_t count, site_index exclude,
                                     std::uint32_t& hint) {
  const auto& p = placement();
  return closest_->get(follower_, p, name, count, exclude, hint);
}

site_list replicator::holders_of(const record& r) { return holders_of(r.lfn, r.owner); }

site_list replicator::holders_of(const std::string& lfn, const std::string& owner) {
  return holders_of(lfn, index_of(owner));
}

site_list replicator::holders_of(const std::string& lfn, site_index o) {
  auto hint = closest_cache::no_hint;
  return holders_of(lfn, o, hint);
}

site_list replicator::holders_of(const std::string& lfn, site_index o, std::uint32_t& hint) {
  const auto& p = placement();
  site_list out;
  if (p.at(o)) out.push_back(o);
  const auto& replicas = closest_->get(follower_, p, lfn, settings_.k, o, hint);
  out.insert(out.end(), replicas.begin(), replicas.end());
  return out;
}

held_record replicator::held(const record_summary& r) {
  auto owner = index_of(r.owner);
  held_record h{r, {}, bucket_of(r.lfn), entry_hash(r.lfn, r.version, r.payload_print), false, owner};
  h.holders = holders_of(r.lfn, owner, h.placement_hint);
  h.owed = contains(h.holders, self_index());
  return h;
}

held_record replicator::moved(const held_record& before) {
  held_record h = before;
  if (h.owner == no_site) h.owner = index_of(h.summary.owner);  // listed since
  h.holders = holders_of(h.summary.lfn, h.owner, h.placement_hint);
  h.owed = contains(h.holders, self_index());
  return h;
}

// Rebuilt from the store only when it changed behind our back (or the placement cache was
// cleared); otherwise the records we wrote and those whose placement moved are re-indexed.
record_index& replicator::index() {
  sync_placement();
  auto& idx = *index_;
  idx.set_self(self_index());
  auto generation = c_.store->generation();
  if (!idx.built || generation == 0 || idx.generation != generation || idx.epoch != closest_->epoch(follower_)) {
    idx.clear();
    stale_records_.clear();
    moved_records_.clear();
    c_.store->for_each_summary([&](const record_summary& r) { idx.put(held(r)); });
    idx.built = true;
    idx.generation = generation;
    idx.epoch = closest_->epoch(follower_);
  } else if (!stale_records_.empty() || !moved_records_.empty()) {
    auto stale = std::move(stale_records_);
    stale_records_.clear();
    auto moved_names = std::move(moved_records_);
    moved_records_.clear();
    std::sort(moved_names.begin(), moved_names.end());
    moved_names.erase(std::unique(moved_names.begin(), moved_names.end()), moved_names.end());
    // In LFN order, both lists merged; a written record is read from the store.
    auto s = stale.begin();
    auto m = moved_names.begin();
    while (s != stale.end() || m != moved_names.end()) {
      if (s != stale.end() && (m == moved_names.end() || *s <= *m)) {
        if (m != moved_names.end() && *m == *s) ++m;
        if (auto r = c_.store->get_summary(*s))
          idx.put(held(*r));
        else
          idx.erase(*s);
        ++s;
      } else {
        if (const auto* before = idx.find(*m)) idx.put(moved(*before));
        ++m;
      }
    }
  }
  return idx;
}

void replicator::wrote(std::uint64_t generation_before, const std::vector<std::string>& lfns) {
  auto& idx = *index_;
  if (!idx.built || generation_before == 0 || idx.generation != generation_before) return;
  stale_records_.insert(lfns.begin(), lfns.end());
  idx.generation = c_.store->generation();
}

std::uint32_t replicator::bucket_of(const std::string& lfn) const {
  auto of_key = [&](const node_id& key) {
    std::uint32_t top = (std::uint32_t{key[0]} << 8) | key[1];
    return top % static_cast<std::uint32_t>(settings_.bucket_count);
  };
  // A held record's placement is memoized with its key, just read by holders_of (a second,
  // cold table of names was 2.4 % of dm2-sim's steady state).
  if (const auto* key = closest_->key(lfn)) return of_key(*key);
  if (auto it = bucket_cache_.find(lfn); it != bucket_cache_.end()) return it->second;
  auto b = of_key(key_of(lfn));
  if (bucket_cache_.size() > 1'000'000) bucket_cache_.clear();  // bound memory
  bucket_cache_.emplace(lfn, b);
  return b;
}

void replicator::send(const std::string& to, message m) {
  ++counters_.messages_sent;
  c_.net->send(self_, to, std::move(m));
}

void replicator::send(site_index to, message m) {
  ++counters_.messages_sent;
  c_.net->send_indexed(self_, self_index(), site_id(to), to, std::move(m));
}

void replicator::send(const std::string& to, site_index to_index, message m) {
  if (to_index != no_site)
    send(to_index, std::move(m));
  else
    send(to, std::move(m));
}

void replicator::push_chunked(const std::string& to, site_index to_index, std::vector<record> records) {
  counters_.records_pushed += records.size();
  for (std::size_t i = 0; i < records.size(); i += settings_.max_records_per_message) {
    push_records msg;
    auto end = std::min(records.size(), i + settings_.max_records_per_message);
    msg.records.assign(std::make_move_iterator(records.begin() + static_cast<std::ptrdiff_t>(i)),
                       std::make_move_iterator(records.begin() + static_cast<std::ptrdiff_t>(end)));
    send(to, to_index, std::move(msg));
  }
}

void replicator::publish(const record& r) {
  wake();
  auto before = c_.store->generation();
  c_.store->put_record(r);
  wrote(before, {r.lfn});
  for (auto h : holders_of(r))
    if (h != self_index()) push_chunked(site_id(h), h, {r});
}

void replicator::own_key(const std::string& key_id, std::uint32_t n) {
  wake();
  auto& k = owned_keys_[key_id];
  if (k.n == n) return;
  k = owned_share_key{};
  k.n = n;
  keys_unchecked_ = true;
}

void replicator::tick() {
  repair_->tick();
  auto now = c_.time->now();
  if (evaluate_at_ && now >= *evaluate_at_) {
    evaluate_at_.reset();
    evaluate_shares();
  }
  bool membership_changed = round_version_ && *round_version_ != c_.members->version();
  if (now >= next_round_) {  // the first round too (next_round_ holds its spread)
    start_round();
  } else if (membership_changed && now - last_round_ >= settings_.membership_debounce) {
    // At thousands of sites almost every change is far from our records: repair only if the
    // holders of something we hold (or the targets of our keys' shares) moved. When no cached
    // placement was dropped, none did, and nothing is recomputed.
    sync_placement();
    if (incarnations_unknown_) compare_incarnations();
    std::optional<std::uint64_t> print;
    if (!agreement_voided_ && closest_->epoch(follower_) != print_epoch_) print = holders_print();
    if (agreement_voided_ || (print && *print != placement_print_))
      begin_round(print);  // the print just taken: nothing moved since
    else
      round_version_ = c_.members->version();
  }
  // A key owned between rounds (a series ingested) is placed now, or once the check running
  // when it came ends: a check asks only about the keys it began with. Before the first round,
  // that round places it.
  if (keys_unchecked_ && !evaluate_at_ && counters_.rounds > 0) {
    sync_placement();
    run_share_round();
  }
}

// tick()'s conditions, as times: it has nothing to do before the earliest of them.
millis replicator::next_work() const {
  if (keys_unchecked_ && !evaluate_at_ && counters_.rounds > 0) return millis::min();
  auto at = std::min(next_round_, repair_->next_work());
  if (evaluate_at_) at = std::min(at, *evaluate_at_);
  if (round_version_ && *round_version_ != c_.members->version())
    at = std::min(at, last_round_ + settings_.membership_debounce);
  return at;
}

std::uint64_t replicator::holders_print() {
  std::uint64_t h = index().print();
  for (auto& [key_id, k] : owned_keys_) {
    std::uint64_t x = fingerprint(key_id);
    for (auto s : closest(key_id, k.n, self_index(), k.placement_hint)) x = fingerprint_value(s, x);
    h ^= x;
  }
  if (closest_->resets(follower_) != repair_resets_) {  // cleared, or an entry recomputed otherwise
    repair_->placements_reset();
    repair_resets_ = closest_->resets(follower_);
  }
  h ^= repair_->print();
  print_epoch_ = closest_->epoch(follower_);
  return h;
}

void replicator::start_round() {
  wake();
  begin_round(std::nullopt);
}

void replicator::begin_round(std::optional<std::uint64_t> print) {
  sync_placement();
  if (incarnations_unknown_) compare_incarnations();
  agreement_voided_ = false;
  placement_print_ = print ? *print : holders_print();
  round_version_ = c_.members->version();
  last_round_ = c_.time->now();
  next_round_ = last_round_ + settings_.repair_period;
  ++counters_.rounds;
  owed_ = 0;
  run_record_round();
  run_share_round();
  repair_->start_round();
  // The watch bits only grow between rebuilds (acknowledge(), new peers, placed share targets):
  // a stale bit costs a look-up in forget_agreements, nothing more. Rebuilt once as many peers
  // left as remain; walking every peer's state at every round was 4-6 % of dm2-sim's steady state.
  if (peers_left_ > peer_digests_.size()) rewatch();
}

// For every peer that should hold some of our records, one digest over exactly those records —
// unless that peer acknowledged this very digest (in its current incarnation: a restart voids
// it) and we hold no copy for it that we no longer owe.
void replicator::run_record_round() {
  handoff_.clear();
  auto now = c_.time->now();
  auto& idx = index();
  std::map<std::string, millis> still_unowed;
  idx.for_each_unowed([&](const held_record& h) {
    const auto& lfn = h.summary.lfn;
    auto it = unowed_since_.find(lfn);
    auto since = it == unowed_since_.end() ? now : it->second;
    still_unowed[lfn] = since;
    if (now - since >= settings_.handoff_grace)
      handoff_[lfn] = std::set<site_index>(h.holders.begin(), h.holders.end());
  });
  unowed_since_ = std::move(still_unowed);
  // The holders a hand-off waits on are sent a digest even when they agree: their reply is the
  // confirmation that lets the copy go.
  std::vector<site_index> confirming;
  for (const auto& [lfn, holders] : handoff_)
    for (auto h : holders)
      if (h != self_index()) confirming.push_back(h);
  std::sort(confirming.begin(), confirming.end());
  confirming.erase(std::unique(confirming.begin(), confirming.end()), confirming.end());
  due_peers_.insert(due_peers_.end(), confirming.begin(), confirming.end());
  const auto recheck = settings_.repair_period * static_cast<long>(settings_.agreed_recheck_rounds);
  // Only the peers that may need a digest: those whose records or agreement changed since the
  // last round, and those it still waits on. In site index order (the order the walk over every
  // peer sent them in, when indexes were handed out in site id order as dm2-sim does); a peer
  // that left the index loses its state.
  auto touched = idx.take_touched();
  due_peers_.insert(due_peers_.end(), std::make_move_iterator(touched.begin()), std::make_move_iterator(touched.end()));
  std::sort(due_peers_.begin(), due_peers_.end());
  due_peers_.erase(std::unique(due_peers_.begin(), due_peers_.end()), due_peers_.end());
  std::vector<site_index> still_due;
  for (auto peer : due_peers_) {
    const auto* pr = idx.peer(peer);
    if (!pr) {
      peers_left_ += peer_digests_.erase(peer);
      continue;
    }
    auto [sent, added] = peer_digests_.try_emplace(peer);
    auto& s = *sent;
    if (added) {
      s.site_print = fingerprint(site_id(peer));
      watch(s.site_print);
    }
    // Records only left the pair's shared set since the agreed digest (a holder moved away, a
    // copy was handed off): what is left still agrees, and saying so again is a message each.
    if (s.acknowledged && s.print != pr->print && s.added == pr->added) s.print = pr->print;
    bool agreed = s.acknowledged && s.print == pr->print && (recheck.count() == 0 || now - s.agreed_at < recheck);
    // Copies we no longer owe are digested again only once their hand-off is due (the replies
    // drive it); before, a pair that settled them is left alone.
    if (agreed && !std::binary_search(confirming.begin(), confirming.end(), peer)) {
      if (recheck.count() != 0) still_due.push_back(peer);  // due again at the recheck
      continue;
    }
    s.print = pr->print;
    s.added = pr->added;
    s.acknowledged = false;
    digest_request m;
    m.bucket_count = static_cast<std::uint32_t>(settings_.bucket_count);
    m.buckets = pr->digest;
    send(peer, std::move(m));
    still_due.push_back(peer);
  }
  due_peers_ = std::move(still_due);
}

void replicator::on_message(const std::string& from, const message& m, site_index from_index) {
  wake();
  if (from.empty() || from.size() > max_site_id_bytes || from == self_) {
    ++counters_.messages_refused;
    return;
  }
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        auto from_site = [&] { return from_index != no_site ? from_index : index_of(from); };
        if constexpr (std::is_same_v<T, digest_request>) on_digest_request(from, from_site(), body);
        else if constexpr (std::is_same_v<T, digest_reply>) on_digest_reply(from, from_site(), body);
        else if constexpr (std::is_same_v<T, pull_request>) on_pull(from, body);
        else if constexpr (std::is_same_v<T, push_records>) on_push(from, body);
        else if constexpr (std::is_same_v<T, share_inventory_request>)
          on_share_inventory_request(from, body);
        else if constexpr (std::is_same_v<T, share_inventory_reply>)
          on_share_inventory_reply(from, body);
        else if constexpr (std::is_same_v<T, push_shares>) on_push_shares(from, body);
        else if constexpr (std::is_same_v<T, drop_shares>) on_drop_shares(from, body);
        else if constexpr (std::is_same_v<T, repair_inventory_request>)
          repair_->on_inventory_request(from, body);
        else if constexpr (std::is_same_v<T, repair_start>) repair_->on_start(from, body.plan);
        else if constexpr (std::is_same_v<T, repair_piece>) repair_->on_piece(from, body);
        else if constexpr (std::is_same_v<T, repair_sum>) repair_->on_sum(from, body);
        // query_request / query_answer belong to query_fanout; the driver routes them there.
      },
      m);
}

// Compare the sender's digest with ours over the records both of us should hold; answer with
// our (lfn, version) entries in the buckets that differ, or with an empty reply (the
// acknowledgement that lets both sides skip this pair until something changes).
void replicator::on_digest_request(const std::string& from, site_index from_index, const digest_request& m) {
  if (m.bucket_count != settings_.bucket_count || m.buckets.size() > settings_.bucket_count) {
    ++counters_.messages_refused;
    spdlog::warn("event=digest_refused peer={} reason=bucket_count", from);
    return;
  }
  for (const auto& [b, h] : m.buckets)
    if (b >= settings_.bucket_count) {
      ++counters_.messages_refused;
      return;
    }
  // Ours come sorted by bucket; a sender's out of order or repeated buckets count last-wins.
  bool sorted = std::adjacent_find(m.buckets.begin(), m.buckets.end(), [](const auto& a, const auto& b) {
                  return a.first >= b.first;
                }) == m.buckets.end();
  bucket_digest reordered;
  if (!sorted) {
    std::map<std::uint32_t, std::uint64_t> last;
    for (const auto& [b, h] : m.buckets) last[b] = h;
    reordered.assign(last.begin(), last.end());
  }
  const auto& theirs = sorted ? m.buckets : reordered;
  // The digest covers what both of us owe; the entries (sent only for differing buckets) cover
  // all we owe there, so a sender holding a copy it no longer owes sees that we have it.
  auto& idx = index();
  static const peer_digests none;
  const auto* shared = idx.peer(from_index);
  const auto& pr = shared ? *shared : none;
  const auto& mine = pr.owed_digest;
  digest_reply reply;
  auto add = [&](std::uint32_t b) {
    reply.differing.push_back(b);
    if (const auto* in = idx.bucket(b))
      for (const auto& [lfn, h] : *in)
        if (h.owed) reply.entries.push_back(h.summary);
  };
  // Both lists ascend by bucket: walk them together; a bucket missing on one side hashes to 0.
  auto t = theirs.begin();
  auto o = mine.begin();
  while (t != theirs.end() || o != mine.end()) {
    if (o == mine.end() || (t != theirs.end() && t->first < o->first)) {
      if (t->second != 0) add(t->first);
      ++t;
    } else if (t == theirs.end() || o->first < t->first) {
      if (o->second != 0) add(o->first);
      ++o;
    } else {
      if (t->second != o->second) add(t->first);
      ++t;
      ++o;
    }
  }
  if (reply.differing.empty() && shared && !pr.unowed) {
    // They hold exactly what we both owe and we hold nothing more for them: our own digest to
    // them would agree too, so it can wait for the next change or recheck.
    acknowledge(from_index, pr.print, pr.added);
  }
  send(from, from_index, std::move(reply));
}

// Push what the peer lacks or holds older; pull what we should hold and lack or hold older.
void replicator::on_digest_reply(const std::string& from, site_index from_index, const digest_reply& m) {
  if (m.entries.size() > settings_.max_entries_per_message ||
      m.differing.size() > settings_.bucket_count) {
    ++counters_.messages_refused;
    return;
  }
  if (auto* sent = peer_digests_.find(from_index)) {
    if (m.differing.empty())
      acknowledge(from_index, sent->print, sent->added);
    else if (sent->acknowledged) {
      sent->acknowledged = false;
      due_peers_.push_back(from_index);
    }
  }
  if (m.differing.empty()) return;  // an acknowledgement: the peer agrees
  // Sorted vectors, not a set and a map: this runs for every disagreeing pair (allocation per
  // node showed in dm2-sim's profile). Of repeated LFNs the last entry counts.
  std::vector<std::uint32_t> differing(m.differing.begin(), m.differing.end());
  std::sort(differing.begin(), differing.end());
  differing.erase(std::unique(differing.begin(), differing.end()), differing.end());
  auto is_differing = [&](std::uint32_t b) { return std::binary_search(differing.begin(), differing.end(), b); };
  std::vector<const version_entry*> theirs;
  theirs.reserve(m.entries.size());
  for (const auto& e : m.entries) theirs.push_back(&e);
  auto by_lfn = [](const version_entry* a, const version_entry* b) { return a->lfn < b->lfn; };
  std::stable_sort(theirs.begin(), theirs.end(), by_lfn);

  std::vector<std::string> newer_here;
  // Our summary for each of their entries whose record we hold (by position in m.entries): the
  // pulls below then skip the store and bucket look-ups for those (a tenth of dm2-sim's steady
  // state was this handler's look-ups).
  std::vector<const record_summary*> mine_of(m.entries.size(), nullptr);
  auto same_lfn = [&](const std::string& lfn) {
    return std::equal_range(theirs.begin(), theirs.end(), lfn, lfn_order{});
  };
  auto& idx = index();
  for (auto b : differing) {
    const auto* in = idx.bucket(b);
    if (!in) continue;
    for (const auto& [lfn, h] : *in) {
      const auto& r = h.summary;
      auto [first, last] = same_lfn(r.lfn);
      for (auto it = first; it != last; ++it) mine_of[static_cast<std::size_t>(*it - m.entries.data())] = &r;
      const auto* e = first != last ? *std::prev(last) : nullptr;
      if (e && !newer_than(r.version, r.payload_print, e->version, e->payload_print)) continue;
      if (contains(h.holders, from_index)) newer_here.push_back(r.lfn);
    }
  }
  std::vector<record> to_push;
  for (const auto& lfn : newer_here)
    if (auto r = c_.store->get_record(lfn)) to_push.push_back(std::move(*r));
  owed_ += to_push.size();
  if (!to_push.empty()) push_chunked(from, from_index, std::move(to_push));

  // Hand-off: a copy we no longer owe goes once every current holder showed it has it.
  for (const auto& e : m.entries) {
    auto h = handoff_.find(e.lfn);
    if (h == handoff_.end() || !h->second.count(from_index)) continue;
    auto mine = c_.store->get_summary(e.lfn);
    if (!mine || newer_than(mine->version, mine->payload_print, e.version, e.payload_print)) continue;
    h->second.erase(from_index);
    if (h->second.empty()) {
      auto before = c_.store->generation();
      c_.store->erase_record(e.lfn);
      wrote(before, {e.lfn});
      auto [first, last] = same_lfn(e.lfn);  // gone: the pulls below ask the store again
      for (auto it = first; it != last; ++it) mine_of[static_cast<std::size_t>(*it - m.entries.data())] = nullptr;
      handoff_.erase(h);
      ++counters_.records_handed_off;
    }
  }

  pull_request pull;
  for (std::size_t i = 0; i < m.entries.size(); ++i) {
    const auto& e = m.entries[i];
    if (e.lfn.empty() || e.lfn.size() > max_lfn_bytes) continue;
    // Held and indexed: its bucket is one of the differing ones we walked.
    std::optional<record_summary> stored;
    if (!mine_of[i]) {
      if (!is_differing(bucket_of(e.lfn))) continue;
      stored = c_.store->get_summary(e.lfn);  // the version without the payload
    }
    const record_summary* mine = mine_of[i] ? mine_of[i] : stored ? &*stored : nullptr;
    if (mine && !newer_than(e.version, e.payload_print, mine->version, mine->payload_print)) continue;
    record probe{e.lfn, e.version, e.owner, {}};
    if (contains(holders_of(probe), self_index())) pull.lfns.push_back(e.lfn);
  }
  // Differences that leave nothing to push or pull are copies one of us no longer owes, which
  // the other holds too: the pair agrees on everything both owe, and this digest is settled
  // like an acknowledged one (a copy in its hand-off grace was digested every round, ~half of
  // dm2-sim's steady-state digests). Its hand-off, when due, asks again.
  if (newer_here.empty() && pull.lfns.empty())
    if (auto* sent = peer_digests_.find(from_index))
      acknowledge(from_index, sent->print, sent->added);
  for (std::size_t i = 0; i < pull.lfns.size(); i += settings_.max_records_per_message) {
    pull_request chunk;
    auto end = std::min(pull.lfns.size(), i + settings_.max_records_per_message);
    chunk.lfns.assign(pull.lfns.begin() + static_cast<std::ptrdiff_t>(i),
                      pull.lfns.begin() + static_cast<std::ptrdiff_t>(end));
    send(from, from_index, std::move(chunk));
  }
}

void replicator::on_pull(const std::string& from, const pull_request& m) {
  if (m.lfns.size() > settings_.max_entries_per_message) {
    ++counters_.messages_refused;
    return;
  }
  std::vector<record> out;
  for (const auto& lfn : m.lfns)
    if (auto r = c_.store->get_record(lfn)) out.push_back(std::move(*r));
  if (!out.empty()) push_chunked(from, no_site, std::move(out));
}

void replicator::on_push(const std::string& from, const push_records& m) {
  if (m.records.size() > settings_.max_records_per_message) {
    ++counters_.messages_refused;
    return;
  }
  std::vector<record> owed;
  for (const auto& r : m.records) {
    bool well_formed = !r.lfn.empty() && r.lfn.size() <= max_lfn_bytes && !r.owner.empty() &&
                       r.owner.size() <= max_site_id_bytes &&
                       r.payload.size() <= settings_.max_payload_bytes;
    // Only what placement gives us: a peer cannot fill our disk with records we do not owe.
    if (!well_formed || !contains(holders_of(r), self_index())) {
      ++counters_.records_refused;
      spdlog::debug("event=record_refused peer={} well_formed={}", from, well_formed);
      continue;
    }
    owed.push_back(r);
  }
  // One call: a store on disk makes the whole push one synced commit.
  if (owed.empty()) return;
  auto before = c_.store->generation();
  counters_.records_accepted += c_.store->put_records(owed);
  std::vector<std::string> lfns;
  for (const auto& r : owed) lfns.push_back(r.lfn);
  wrote(before, lfns);
}

// ---- key shares: the owner drives their placement (only it can seal a share to a new holder).

std::vector<std::string> replicator::share_targets(const std::string& key_id, std::uint32_t n) {
  std::vector<std::string> out;
  for (auto t : closest(key_id, n, self_index())) out.push_back(site_id(t));
  return out;
}

// Checks the keys whose shares may not all be in place: their targets moved or one restarted
// since the last check, or that check pushed or dropped something (or, with timed re-checks,
// the recheck passed). Of each, asks only the live sites that may hold a share and that it
// cannot vouch for; the others' shares are taken as known.
void replicator::run_share_round() {
  keys_unchecked_ = false;
  if (owned_keys_.empty() || !c_.shares) return;
  auto now = c_.time->now();
  const auto recheck = settings_.repair_period * static_cast<long>(settings_.agreed_recheck_rounds);
  auto fresh = [&](millis at) { return recheck.count() == 0 || now - at < recheck; };
  const auto& p = placement();
  std::map<std::string, std::vector<std::string>> ask;  // site -> key ids
  bool checking = false;
  for (auto& [key_id, k] : owned_keys_) {
    // Compared by index: naming the targets of every key at every round was 2 % of dm2-sim.
    const auto& chosen = closest(key_id, k.n, self_index());
    k.checking = !k.placed || k.target_sites != chosen || !fresh(k.checked_at);
    if (!k.checking) continue;
    k.target_sites = chosen;
    auto targets = share_targets(key_id, k.n);
    checking = true;
    k.placed = false;
    k.targets = targets;
    k.consulted.clear();
    k.checked_at = now;
    auto& held = inventory_[key_id];
    held.clear();
    std::vector<std::string> sites = targets;  // targets first, then former holders
    for (const auto& h : k.known)
      if (!contains(sites, h.site)) sites.push_back(h.site);
    for (const auto& u : k.unsure)
      if (!contains(sites, u)) sites.push_back(u);
    for (const auto& site : sites) {
      const auto* info = p.find(site);
      if (!info) continue;  // down: its entries wait until it is back
      bool vouched = !contains(k.unsure, site), listed = false;
      for (const auto& h : k.known)
        if (h.site == site) {
          listed = true;
          vouched = vouched && h.incarnation == info->incarnation && fresh(h.at);
        }
      k.consulted.push_back({site, info->incarnation, !vouched || !listed});
      if (k.consulted.back().asked) {
        ask[site].push_back(key_id);
        continue;
      }
      for (const auto& h : k.known)
        if (h.site == site) held[h.index].insert(site);
    }
  }
  if (!checking) return;
  for (auto& [site, keys] : ask) {
    for (std::size_t i = 0; i < keys.size(); i += settings_.max_entries_per_message) {
      share_inventory_request m;
      auto end = std::min(keys.size(), i + settings_.max_entries_per_message);
      m.key_ids.assign(keys.begin() + static_cast<std::ptrdiff_t>(i),
                       keys.begin() + static_cast<std::ptrdiff_t>(end));
      send(site, std::move(m));
    }
  }
  evaluate_at_ = now + settings_.share_inventory_wait;
}

void replicator::on_share_inventory_request(const std::string& from,
                                            const share_inventory_request& m) {
  if (m.key_ids.size() > settings_.max_entries_per_message) {
    ++counters_.messages_refused;
    return;
  }
  std::set<std::string> wanted(m.key_ids.begin(), m.key_ids.end());
  share_inventory_reply reply;
  c_.store->for_each_share([&](const key_share& s) {
    if (s.owner == from && wanted.count(s.key_id)) reply.held.emplace_back(s.key_id, s.index);
  });
  if (!reply.held.empty()) send(from, std::move(reply));
}

void replicator::on_share_inventory_reply(const std::string& from, const share_inventory_reply& m) {
  if (m.held.size() > settings_.max_entries_per_message) {
    ++counters_.messages_refused;
    return;
  }
  for (const auto& [key_id, index] : m.held) {
    auto it = owned_keys_.find(key_id);
    if (it == owned_keys_.end()) {
      repair_->on_inventory_entry(from, key_id, index);  // a holder's inventory, owner down
      continue;
    }
    if (!it->second.checking || index < 1 || index > it->second.n) continue;
    inventory_[key_id][index].insert(from);
  }
}

// With the inventories in: every index 1..n must sit on a distinct target site. Re-create the
// missing ones for targets that hold none, then tell holders outside the targets to drop shares
// that a target now has.
void replicator::evaluate_shares() {
  if (!c_.shares) return;
  const auto& p = placement();
  std::map<std::string, push_shares> pushes;
  std::map<std::string, drop_shares> drops;
  for (auto& [key_id, k] : owned_keys_) {
    if (!k.checking) continue;
    k.checking = false;
    const auto n = k.n;
    auto targets = share_targets(key_id, n);
    const auto& held = inventory_[key_id];
    std::set<std::string> touched;  // pushed to or told to drop: unsure until asked again
    std::map<std::string, std::uint32_t> target_index;  // target -> the index it keeps
    std::set<std::uint32_t> covered;
    for (const auto& [index, sites] : held)
      for (const auto& s : sites)
        if (contains(targets, s) && !target_index.count(s) && !covered.count(index)) {
          target_index[s] = index;
          covered.insert(index);
        }
    std::vector<std::string> free_targets;
    for (const auto& t : targets)
      if (!target_index.count(t)) free_targets.push_back(t);
    auto next_free = free_targets.begin();
    for (std::uint32_t index = 1; index <= n && next_free != free_targets.end(); ++index) {
      if (covered.count(index)) continue;
      if (auto share = c_.shares->make_share(key_id, index, *next_free)) {
        share->count = n;
        pushes[*next_free].shares.push_back(std::move(*share));
        touched.insert(*next_free);
        ++counters_.shares_pushed;
        covered.insert(index);
      }
      ++next_free;
    }
    bool all_placed = covered.size() == n && free_targets.empty();
    // Extra copies (outside the targets, or a second index at one target) go once covered.
    for (const auto& [index, sites] : held)
      for (const auto& s : sites) {
        auto kept = target_index.find(s);
        bool keeps_this = kept != target_index.end() && kept->second == index;
        if (!keeps_this && covered.count(index) && p.find(s)) {
          drops[s].shares.emplace_back(key_id, index);
          touched.insert(s);
        }
      }
    remember_shares(k, held, touched);
    // A target that restarted since it was asked may have lost its share: not placed.
    bool same_targets = k.targets == targets &&
                        std::all_of(k.consulted.begin(), k.consulted.end(), [&](const auto& c) {
                          return !contains(targets, c.site) || c.incarnation == incarnation_of(c.site);
                        });
    k.placed = all_placed && same_targets && touched.empty();
    // Watched from now: a target restarting before our next round voids the placement (the
    // bits were set only at the next round, and a restart in between went unseen).
    if (k.placed)
      for (const auto& t : k.targets) watch(fingerprint(t));
  }
  inventory_.clear();
  for (auto& [site, m] : pushes) send(site, std::move(m));
  for (auto& [site, m] : drops) send(site, std::move(m));
}

void replicator::remember_shares(owned_share_key& k, const std::map<std::uint32_t, std::set<std::string>>& held,
                                 const std::set<std::string>& touched) {
  auto consulted = [&](const std::string& site) -> const owned_share_key::consulted_site* {
    for (const auto& c : k.consulted)
      if (c.site == site) return &c;
    return nullptr;
  };
  // What was known of the sites this check did not ask (down, or vouched for) stands, answer
  // times included: vouching renews no trust, so timed re-checks still come round.
  std::vector<share_holding> known;
  for (auto& h : k.known) {
    const auto* c = consulted(h.site);
    if ((!c || !c->asked) && !touched.count(h.site)) known.push_back(std::move(h));
  }
  std::vector<std::string> unsure;
  for (auto& u : k.unsure)
    if (!consulted(u) && !touched.count(u)) unsure.push_back(std::move(u));
  unsure.insert(unsure.end(), touched.begin(), touched.end());
  for (const auto& [index, sites] : held)
    for (const auto& s : sites) {
      const auto* c = consulted(s);
      if (touched.count(s) || (c && !c->asked)) continue;
      // An answer from a site not asked (late, or unsolicited) counts with its incarnation now.
      known.push_back(share_holding{s, index, c ? c->incarnation : incarnation_of(s), k.checked_at});
    }
  k.known = std::move(known);
  k.unsure = std::move(unsure);
}

void replicator::on_push_shares(const std::string& from, const push_shares& m) {
  if (m.shares.size() > settings_.max_entries_per_message) {
    ++counters_.messages_refused;
    return;
  }
  for (const auto& s : m.shares) {
    // A share comes only from its owner and only sealed to us.
    if (s.owner != from || s.holder != self_ || s.index < 1 || s.key_id.empty() ||
        s.key_id.size() > max_lfn_bytes || s.sealed.size() > settings_.max_payload_bytes) {
      ++counters_.messages_refused;
      spdlog::warn("event=share_refused peer={}", from);
      continue;
    }
    c_.store->put_share(s);
  }
}

void replicator::on_drop_shares(const std::string& from, const drop_shares& m) {
  if (m.shares.size() > settings_.max_entries_per_message) {
    ++counters_.messages_refused;
    return;
  }
  std::set<std::pair<std::string, std::uint32_t>> wanted(m.shares.begin(), m.shares.end());
  std::vector<std::pair<std::string, std::uint32_t>> erase;
  c_.store->for_each_share([&](const key_share& s) {
    if (s.owner == from && wanted.count({s.key_id, s.index})) erase.emplace_back(s.key_id, s.index);
  });
  for (const auto& [k, i] : erase) c_.store->erase_share(k, i);
}

}  // namespace dm2::dht
