#include "dm2/dht/tree_fanout.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <cmath>

#include "dm2/dht/placement.hpp"

namespace dm2::dht {

namespace {

constexpr int id_bits = 160;

// The prefix of `id`'s first `bits` bits, the bits after them cleared (one form per prefix).
id_prefix prefix_of(const node_id& id, int bits) {
  id_prefix p{id, static_cast<std::uint8_t>(bits)};
  for (int i = bits; i < id_bits; ++i) p.id[static_cast<std::size_t>(i / 8)] &= static_cast<std::uint8_t>(~(0x80 >> (i % 8)));
  return p;
}

// Bucket `b` of a site: the ids that share its first b bits and differ at bit b.
id_prefix bucket_of(const node_id& self, int b) {
  auto flipped = self;
  flipped[static_cast<std::size_t>(b / 8)] ^= static_cast<std::uint8_t>(0x80 >> (b % 8));
  return prefix_of(flipped, b + 1);
}

// The sites of a placement index (sorted by id) that lie in `p`: a contiguous range.
std::pair<std::size_t, std::size_t> range_of(const placement_index& idx, const id_prefix& p) {
  const auto& s = idx.sites();
  // p.id (trailing bits cleared) is the smallest id in p.
  auto lo = std::partition_point(s.begin(), s.end(), [&](const site_info& x) { return x.id < p.id; });
  auto hi = std::partition_point(lo, s.end(), [&](const site_info& x) { return in_prefix(x.id, p); });
  return {static_cast<std::size_t>(lo - s.begin()), static_cast<std::size_t>(hi - s.begin())};
}

// Levels of a subtree of n sites: the deepest chain of buckets (log2 n), plus its root.
std::int64_t levels(std::size_t n) { return 1 + static_cast<std::int64_t>(std::bit_width(n > 0 ? n - 1 : 0)); }

// Where a bucket's member choice starts: spread by query, so no site forwards every query.
std::size_t start_of(const std::string& query_id, const id_prefix& bucket) {
  auto k = key_of(query_id + std::string(bucket.id.begin(), bucket.id.end()));
  std::size_t h = 0;
  for (int i = 0; i < 8; ++i) h = (h << 8) | k[static_cast<std::size_t>(i)];
  return h;
}

void merge(std::map<std::string, query_hit>& best, const std::vector<query_hit>& hits) {
  for (const auto& h : hits) {
    auto [pos, inserted] = best.try_emplace(h.lfn, h);
    if (!inserted && h.score > pos->second.score) pos->second = h;
  }
}

std::vector<query_hit> best_of(const std::map<std::string, query_hit>& best, std::size_t top_k) {
  std::vector<query_hit> hits;
  hits.reserve(best.size());
  for (const auto& entry : best) hits.push_back(entry.second);
  keep_best(hits, top_k);
  return hits;
}

}  // namespace

struct tree_fanout::bucket {
  id_prefix cover;
  std::vector<std::string> asked;  // in the order asked; the last one is current
  std::vector<node_id> asked_ids;  // theirs: a member may leave the view before we report it
  std::vector<std::string> alive;        // sent their own answer: working on it
  std::vector<std::string> answered_by;  // sent their last answer
  millis resend_at{0};
  bool given_up = false;  // no member left to ask, or no time
};

bool in_prefix(const node_id& id, const id_prefix& p) {
  int full = p.bits / 8, rest = p.bits % 8;
  if (!std::equal(id.begin(), id.begin() + full, p.id.begin())) return false;
  if (rest == 0) return true;
  auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (id[static_cast<std::size_t>(full)] & mask) == (p.id[static_cast<std::size_t>(full)] & mask);
}

query_progress progress_of(const tree_progress& p, const std::vector<site_info>& asked) {
  auto in_any = [](const node_id& id, const std::vector<id_prefix>& v) {
    return std::any_of(v.begin(), v.end(), [&](const id_prefix& x) { return in_prefix(id, x); });
  };
  query_progress out;
  out.asked = asked.size();
  out.done = true;
  out.deadline_passed = p.deadline_passed;
  // The second pass covers the first's misses only if every site that can hold their copies
  // answered it: one it left out that the first pass reached (alive, holding copies) may have
  // held the only copy that came back of some of their records.
  bool second_gap = std::any_of(asked.begin(), asked.end(), [&](const site_info& s) {
    return in_any(s.id, p.second_uncovered) && !in_any(s.id, p.uncovered);
  });
  for (const auto& s : asked) {
    out.asked_sites.push_back(s.site_id);
    if (!in_any(s.id, p.uncovered)) {
      out.answered_sites.push_back(s.site_id);
      if (p.second_pass && in_any(s.id, p.restoring)) out.hedged_sites.push_back(s.site_id);
    } else if (p.second_pass && !second_gap)
      out.hedged_sites.push_back(s.site_id);
    else
      out.missed_sites.push_back(s.site_id);
  }
  out.answered = out.answered_sites.size();
  out.hedged = out.hedged_sites.size();
  return out;
}

struct tree_fanout::subtree {
  subtree_request req;  // as received (this site's own: as it would send it)
  std::string parent;   // empty: a pass of this site's own query
  std::string own_query;  // for a pass of our own query: its id
  millis reply_by{0};
  std::size_t top_k = 0;
  std::vector<bucket> buckets;
  std::map<std::string, query_hit> best;
  std::uint32_t reached = 0;
  std::vector<id_prefix> uncovered;  // reported by children
  std::vector<id_prefix> restoring;  // this site and its subtree's restoring sites
};

// Every bucket answered or given up: the subtree can answer its parent.
bool tree_fanout::settled(const subtree& t) {
  return std::all_of(t.buckets.begin(), t.buckets.end(), [](const bucket& k) { return k.given_up || !k.answered_by.empty(); });
}

struct tree_fanout::query_state {
  std::string body;
  millis deadline{0};
  on_done callback;
  std::map<std::string, query_hit> best;
  std::size_t top_k = 0;
  tree_progress progress;
};

tree_fanout::tree_fanout(std::string self_site, tree_settings settings, replicator_collaborators c,
                         query_authenticator& auth, query_planner plan)
    : self_(std::move(self_site)), settings_(settings), c_(c), auth_(auth), plan_(std::move(plan)) {}

tree_fanout::~tree_fanout() = default;

std::size_t tree_fanout::running() const { return subtrees_.size(); }

const placement_index& tree_fanout::placement() {
  auto v = c_.members->version();
  if (v != placement_version_ || !placement_) {
    if (placement_) note_departures();
    placement_ = c_.members->shared_placement();
    if (!placement_) placement_ = std::make_shared<const placement_index>(c_.members->live_sites());
    placement_version_ = v;
  }
  return *placement_;
}

// A query may have started before a site left our view, and the holders of that site's records
// may have answered while they still saw it live: we report it for as long as a query could
// have been under way (a hop per level), so the second pass asks for its records.
millis tree_fanout::departure_window(std::size_t live) const { return current_hop() * levels(live); }

millis tree_fanout::current_hop() const { return answer_time_.wait(settings_.hop, settings_.max_hop); }

millis tree_fanout::hop_for(const subtree& t) const {
  return std::max(current_hop(), std::min(millis(t.req.hop_ms), settings_.max_hop));
}

void tree_fanout::note_departures() {
  auto now = c_.time->now();
  if (auto changes = c_.members->changes_since(placement_version_))
    for (const auto& ch : *changes)
      if (!ch.live && !ch.restarted) departed_.push_back({ch.site_id, ch.id, now});
  auto window = departure_window(placement_->sites().size());
  while (!departed_.empty() && (departed_.front().noticed + window < now || departed_.size() > settings_.max_listed))
    departed_.pop_front();
}

// Sites of our cover that left our view lately and that no bucket of ours now holds: nobody
// below will ask them, and their holders may have answered before they left.
void tree_fanout::report_departed(subtree& t, const placement_index& idx) {
  auto since = c_.time->now() - departure_window(idx.sites().size());
  auto skipped = [&](const std::string& site) { return std::find(t.req.skip.begin(), t.req.skip.end(), site) != t.req.skip.end(); };
  auto delegated = [&](const node_id& id) {
    return std::any_of(t.buckets.begin(), t.buckets.end(), [&](const bucket& k) { return in_prefix(id, k.cover); });
  };
  for (const auto& d : departed_)
    if (d.noticed >= since && in_prefix(d.id, t.req.cover) && !idx.find(d.site) && !skipped(d.site) && !delegated(d.id))
      t.uncovered.push_back(prefix_of(d.id, id_bits));
}

void tree_fanout::start(const std::string& query_id, const std::string& body, millis timeout, on_done callback) {
  auto q = std::make_unique<query_state>();
  q->body = body;
  q->deadline = c_.time->now() + timeout;
  q->callback = std::move(callback);
  auto plan = plan_(body);
  q->top_k = plan ? plan->top_k : 0;
  queries_[query_id] = std::move(q);
  launch(query_id, query_id, timeout, {}, {});
}

// A pass of our own query: the root of its tree, covering the whole id space.
std::uint64_t tree_fanout::launch(const std::string& query_id, const std::string& pass_id, millis budget,
                                  std::vector<std::string> skip, std::vector<id_prefix> answer_for) {
  const auto& q = *queries_.at(query_id);
  auto t = std::make_unique<subtree>();
  t->req.query_id = pass_id;
  t->req.body = q.body;
  t->req.deadline_ms = q.deadline.count();
  t->req.signature = auth_.sign(pass_id, q.body, t->req.deadline_ms);
  t->req.querier = self_;
  t->req.budget_ms = budget.count();
  t->req.skip = std::move(skip);
  t->req.answer_for = std::move(answer_for);
  t->own_query = query_id;
  auto id = next_id_++;
  subtrees_[id] = std::move(t);
  cover(id);
  return id;
}

// Our own answer, plus one request per non-empty bucket of the cover.
void tree_fanout::cover(std::uint64_t id) {
  auto& t = *subtrees_.at(id);
  t.reply_by = c_.time->now() + millis(t.req.budget_ms);
  auto hits = answer(t.req);
  if (!hits) {  // the querier's own planner refused the body: nothing to ask anyone
    complete(id, false);
    return;
  }
  auto plan = plan_(t.req.body);
  t.top_k = plan->top_k;
  // Signed here, as they travel through forwarders that could alter or invent them.
  for (auto& h : *hits) {
    h.signer = self_;
    h.signature = auth_.sign_hit(t.req.query_id, h);
  }
  merge(t.best, *hits);
  t.reached = 1;
  if (observer_) observer_(t.req.querier, t.req.query_id, hits->size());
  const auto& idx = placement();
  const auto* me = idx.find(self_);
  if (me && t.req.answer_for.empty() && c_.time->now() < restoring_until_)
    t.restoring.push_back(prefix_of(me->id, id_bits));  // our records: ask their holders too
  if (!me) {
    t.uncovered.push_back(t.req.cover);  // not live in our own view: we cannot split
  } else if (!t.parent.empty() && c_.time->now() < view_settles_at_) {
    // Our view may lack some of the part's sites: the part goes to the second pass, which skips
    // us (our own id, listed too) and asks another member of the bucket.
    t.uncovered.push_back(t.req.cover);
    t.uncovered.push_back(prefix_of(me->id, id_bits));
  } else {
    for (int b = t.req.cover.bits; b < id_bits; ++b) {
      auto bucket_cover = bucket_of(me->id, b);
      auto [lo, hi] = range_of(idx, bucket_cover);
      // Sites on the skip list are accounted for by whoever listed them: a bucket of only
      // those is not ours to cover (nor to report).
      auto skipped = std::count_if(t.req.skip.begin(), t.req.skip.end(), [&](const std::string& s) {
        const auto* site = idx.find(s);
        return site && in_prefix(site->id, bucket_cover);
      });
      if (hi - lo > static_cast<std::size_t>(skipped)) t.buckets.push_back(bucket{bucket_cover, {}, {}, {}, {}, millis(0), false});
      // Stop where our own half holds nobody else.
      auto [own_lo, own_hi] = range_of(idx, prefix_of(me->id, b + 1));
      if (own_hi - own_lo <= 1) break;
    }
  }
  if (me && t.req.answer_for.empty()) report_departed(t, idx);
  // A forwarder says at once that it is alive, with its own hits; its subtree's follow.
  if (!t.parent.empty() && !t.buckets.empty()) {
    c_.net->send(self_, t.parent,
                 subtree_answer{t.req.query_id, t.req.tag, best_of(t.best, t.top_k), 1, {}, false, std::move(t.restoring)});
    t.best.clear();
    t.reached = 0;
    t.restoring.clear();
  }
  for (std::size_t b = 0; b < t.buckets.size(); ++b) ask_next(id, b);
  // ask_next may have given up on every bucket.
  if (auto it = subtrees_.find(id); it != subtrees_.end() && settled(*it->second)) complete(id, false);
}

// Sends bucket `b` to its next untried live member, or gives it up.
void tree_fanout::ask_next(std::uint64_t id, std::size_t b) {
  auto& t = *subtrees_.at(id);
  auto& k = t.buckets[b];
  auto now = c_.time->now();
  const auto& idx = placement();
  auto [lo, hi] = range_of(idx, k.cover);
  const site_info* pick = nullptr;
  if (k.asked.size() <= settings_.resends && hi > lo) {
    auto n = hi - lo, start = start_of(t.req.query_id, k.cover);
    for (std::size_t i = 0; i < n && !pick; ++i) {
      const auto& s = idx.sites()[lo + (start + i) % n];
      bool skipped = s.site_id == self_ || std::count(k.asked.begin(), k.asked.end(), s.site_id) ||
                     std::count(t.req.skip.begin(), t.req.skip.end(), s.site_id);
      if (!skipped) pick = &s;
    }
  }
  // The child answers a hop before we must, and must have at least a hop itself.
  const auto hop = hop_for(t);
  auto budget = t.reply_by - now - hop;
  if (!pick || budget < hop) {
    k.given_up = true;
    return;
  }
  auto req = t.req;
  req.tag = next_id_++;
  req.cover = k.cover;
  req.budget_ms = budget.count();
  req.hop_ms = hop.count();
  // The members already asked are late: the new one covers the bucket without them.
  for (const auto& s : k.asked)
    if (req.skip.size() < settings_.max_listed) req.skip.push_back(s);
  k.asked.push_back(pick->site_id);
  k.asked_ids.push_back(pick->id);
  auto wait = std::min(hop, millis(static_cast<std::int64_t>(settings_.resend_fraction *
                                                                       static_cast<double>((t.reply_by - now).count()))));
  k.resend_at = now + wait;
  children_[req.tag] = child{id, b, pick->site_id, now, false};
  if (k.asked.size() > 1) ++resent_;
  c_.net->send(self_, pick->site_id, std::move(req));
}

// Our records, plus our copies of records whose owner is down in our view; on a second pass,
// only copies of records whose owner lies in a part the first pass missed.
std::optional<std::vector<query_hit>> tree_fanout::answer(const subtree_request& r) {
  auto plan = plan_(r.body);
  if (!plan || !plan->score) return std::nullopt;
  const auto& idx = placement();
  query_plan::owner_test answers_for = [&](const std::string& owner) {
    const auto* o = idx.find(owner);
    if (r.answer_for.empty()) return owner == self_ || !o;
    if (owner == self_) return false;
    return !o || std::any_of(r.answer_for.begin(), r.answer_for.end(), [&](const id_prefix& p) { return in_prefix(o->id, p); });
  };
  return answer_from_store(*c_.store, *plan, answers_for);
}

void tree_fanout::on_message(const std::string& from, const message& m) {
  if (const auto* r = std::get_if<subtree_request>(&m)) {
    const auto* me = placement().find(self_);
    query_request signed_part{r->query_id, r->body, r->signature, r->deadline_ms, {}, {}};
    bool sane = r->body.size() <= settings_.max_body_bytes && !r->query_id.empty() && r->cover.bits <= id_bits &&
                r->budget_ms > 0 && r->skip.size() <= settings_.max_listed &&
                r->answer_for.size() <= settings_.max_listed && me && in_prefix(me->id, r->cover);
    // The querier's signature, whoever forwarded it: a forwarder cannot change the query.
    if (!sane || !auth_.verify(r->querier, signed_part) || !plan_(r->body)) {
      ++refused_;
      spdlog::warn("event=subtree_refused peer={} query={}", from, r->query_id.substr(0, 64));
      return;
    }
    auto t = std::make_unique<subtree>();
    t->req = *r;
    t->parent = from;
    auto id = next_id_++;
    subtrees_[id] = std::move(t);
    cover(id);
  } else if (const auto* a = std::get_if<subtree_answer>(&m)) {
    accept(from, *a);
  }
}

void tree_fanout::accept(const std::string& from, const subtree_answer& a) {
  auto c = children_.find(a.tag);
  // Only the site a request went to answers it (a tag is not a credential on its own).
  if (c == children_.end() || c->second.site != from || a.uncovered.size() > settings_.max_listed ||
      a.restoring.size() > settings_.max_listed) {
    ++refused_;
    return;
  }
  if (!c->second.heard) {
    c->second.heard = true;
    answer_time_.sample(c_.time->now() - c->second.sent);
  }
  const auto id = c->second.subtree;
  const auto b = c->second.bucket;
  if (a.last) children_.erase(c);
  auto& t = *subtrees_.at(id);
  auto& k = t.buckets[b];
  std::vector<query_hit> hits;
  for (const auto& h : a.hits) {
    // A NaN would break everyone's ranking; a hit its signer did not sign for this query was
    // made up or altered on the way.
    if (std::isfinite(h.score) && auth_.verify_hit(t.req.query_id, h))
      hits.push_back(h);
    else
      ++refused_;
  }
  merge(t.best, hits);
  t.reached += a.reached;
  // A child reports only what lies in the part it was given.
  auto within = [&](const id_prefix& p) { return p.bits >= k.cover.bits && p.bits <= id_bits && in_prefix(p.id, k.cover); };
  for (const auto& p : a.uncovered)
    if (within(p)) t.uncovered.push_back(prefix_of(p.id, p.bits));
  for (const auto& p : a.restoring)
    if (within(p)) t.restoring.push_back(prefix_of(p.id, p.bits));
  if (!a.last) {
    // Alive: its subtree gets a hop per level before the bucket goes to another member (it
    // may die while covering it).
    k.alive.push_back(from);
    auto [lo, hi] = range_of(placement(), k.cover);
    k.resend_at = c_.time->now() + hop_for(t) * levels(hi - lo);
    return;
  }
  k.answered_by.push_back(from);
  if (settled(t)) complete(id, false);
}

void tree_fanout::complete(std::uint64_t id, bool time_up) {
  auto node = std::move(subtrees_.at(id));
  subtrees_.erase(id);
  std::erase_if(children_, [&](const auto& c) { return c.second.subtree == id; });
  auto& t = *node;
  auto uncovered = std::move(t.uncovered);
  for (const auto& k : t.buckets) {
    if (k.answered_by.empty()) {
      uncovered.push_back(k.cover);
      continue;
    }
    // Members skipped for being late that sent nothing: their own records are missing — also
    // when the view has dropped them since (the holders answered before they saw them die).
    for (std::size_t i = 0; i < k.asked.size(); ++i) {
      const auto& s = k.asked[i];
      if (std::find(k.answered_by.begin(), k.answered_by.end(), s) == k.answered_by.end() &&
          std::find(k.alive.begin(), k.alive.end(), s) == k.alive.end())
        uncovered.push_back(prefix_of(k.asked_ids[i], id_bits));
    }
  }
  if (uncovered.size() > settings_.max_listed) uncovered.resize(settings_.max_listed);  // a parent refuses more
  // Too many to list (a freshly started consortium is all restoring): the whole cover, which
  // only costs the second pass more copies.
  auto restoring = std::move(t.restoring);
  if (restoring.size() > settings_.max_listed) restoring = {t.req.cover};
  auto hits = best_of(t.best, t.top_k);
  if (t.parent.empty()) {
    pass_done(t.own_query, std::move(hits), t.reached, std::move(uncovered), std::move(restoring), time_up);
    return;
  }
  c_.net->send(self_, t.parent,
               subtree_answer{t.req.query_id, t.req.tag, std::move(hits), t.reached, std::move(uncovered), true, std::move(restoring)});
}

void tree_fanout::pass_done(const std::string& query_id, std::vector<query_hit> hits, std::uint32_t reached,
                            std::vector<id_prefix> uncovered, std::vector<id_prefix> restoring, bool time_up) {
  auto it = queries_.find(query_id);
  if (it == queries_.end()) return;
  auto& q = *it->second;
  merge(q.best, hits);
  q.progress.deadline_passed = q.progress.deadline_passed || time_up;
  auto now = c_.time->now();
  if (!q.progress.second_pass) {
    q.progress.reached = reached;
    q.progress.uncovered = uncovered;
    q.progress.restoring = restoring;
    if ((!uncovered.empty() || !restoring.empty()) && settings_.second_pass && q.deadline - now >= 2 * current_hop()) {
      // The sites given up on would only be waited for again.
      std::vector<std::string> skip;
      const auto& idx = placement();
      for (const auto& p : uncovered)
        if (p.bits == id_bits) {
          auto [lo, hi] = range_of(idx, p);
          for (auto i = lo; i < hi && skip.size() < settings_.max_listed; ++i) skip.push_back(idx.sites()[i].site_id);
        }
      q.progress.second_pass = true;
      spdlog::info("event=tree_second_pass query={} uncovered={} restoring={}", query_id.substr(0, 64), uncovered.size(),
                   restoring.size());
      auto answer_for = std::move(uncovered);
      answer_for.insert(answer_for.end(), restoring.begin(), restoring.end());
      if (answer_for.size() > settings_.max_listed) answer_for = {id_prefix{}};  // every owner: a site refuses more
      launch(query_id, query_id + "/second", q.deadline - now, std::move(skip), std::move(answer_for));
      return;
    }
  } else {
    q.progress.second_uncovered = std::move(uncovered);
  }
  auto done = std::move(it->second);
  queries_.erase(it);
  if (done->callback) done->callback(best_of(done->best, done->top_k), done->progress);
}

void tree_fanout::tick() {
  placement();  // notices departures while they are recent
  auto now = c_.time->now();
  std::vector<std::uint64_t> expired;
  std::vector<std::pair<std::uint64_t, std::size_t>> late;
  for (const auto& [id, t] : subtrees_) {
    if (now >= t->reply_by) {
      expired.push_back(id);
      continue;
    }
    for (std::size_t b = 0; b < t->buckets.size(); ++b) {
      const auto& k = t->buckets[b];
      if (!k.given_up && k.answered_by.empty() && now >= k.resend_at) late.emplace_back(id, b);
    }
  }
  for (auto [id, b] : late) {
    if (!subtrees_.count(id)) continue;
    ask_next(id, b);
    if (settled(*subtrees_.at(id))) complete(id, false);
  }
  for (auto id : expired)
    if (subtrees_.count(id)) complete(id, true);
}

}  // namespace dm2::dht
