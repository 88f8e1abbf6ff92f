#include "dm2/dht/query_fanout.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace dm2::dht {

query_fanout::query_fanout(std::string self_site, fanout_settings settings,
                           replicator_collaborators c, query_authenticator& auth, query_planner plan)
    : self_(std::move(self_site)),
      settings_(settings),
      c_(c),
      auth_(auth),
      plan_(std::move(plan)) {}

bool ranks_before(const query_hit& a, const query_hit& b) {
  if (a.score != b.score) return a.score > b.score;
  return a.lfn < b.lfn;
}

void query_fanout::start(const std::string& query_id, const std::string& body, millis timeout,
                         on_hits callback) {
  auto& q = queries_[query_id];
  q.deadline = c_.time->now() + timeout;
  q.callback = std::move(callback);
  query_request req{query_id, body, {}, q.deadline.count(), {}};
  req.signature = auth_.sign(query_id, body, req.deadline_ms);
  for (const auto& s : c_.members->live_sites()) {
    q.waiting.insert(s.site_id);
    req.asked.push_back(s.site_id);
  }
  q.progress.asked = req.asked.size();
  for (const auto& site : req.asked)
    if (site != self_) c_.net->send(self_, site, req);
  if (q.waiting.count(self_)) {
    auto hits = answer(req);
    if (hits && observer_) observer_(self_, query_id, hits->size());
    accept(self_, query_answer{query_id, hits ? std::move(*hits) : std::vector<query_hit>{}, true});
  }
}

// Our own records, plus our copies of records whose owner the querier did not ask. Deciding by
// the querier's view rather than ours means no record falls between two views of who is down;
// the price is that every holder of a down owner's record answers it (the querier deduplicates).
// At most the plan's top_k of them, best first.
std::optional<std::vector<query_hit>> query_fanout::answer(const query_request& q) {
  auto plan = plan_(q.body);
  if (!plan || !plan->score) return std::nullopt;
  std::vector<query_hit> hits;
  std::set<std::string> asked(q.asked.begin(), q.asked.end());
  // Choose from the summaries, then read only the records this site answers for: a site holds
  // k replicas of other owners' records for every one of its own, and reading is decrypting.
  std::vector<std::string> ours;
  c_.store->for_each_summary([&](const record_summary& r) {
    if (r.owner == self_ || !asked.count(r.owner)) ours.push_back(r.lfn);  // else its owner answers
  });
  for (const auto& lfn : ours)
    if (auto r = c_.store->get_record(lfn))
      if (auto hit = plan->score(*r)) hits.push_back(std::move(*hit));
  // Only the best top_k are kept sorted; the rest are dropped unsorted.
  auto keep = std::min(hits.size(), plan->top_k);
  std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(keep), hits.end(), ranks_before);
  hits.resize(keep);
  return hits;
}

void query_fanout::on_message(const std::string& from, const message& m) {
  if (auto* q = std::get_if<query_request>(&m)) {
    if (q->body.size() > settings_.max_body_bytes || q->query_id.empty() || !auth_.verify(from, *q)) {
      ++refused_;
      spdlog::warn("event=query_refused peer={} reason=signature_or_size", from);
      return;
    }
    auto answered = answer(*q);
    if (!answered) {
      ++refused_;
      spdlog::warn("event=query_refused peer={} query={} reason=body", from, q->query_id);
      return;
    }
    auto& hits = *answered;
    if (observer_) observer_(from, q->query_id, hits.size());
    // Stream in batches; the last one (possibly empty) says we are done.
    std::size_t i = 0;
    do {
      query_answer a{q->query_id, {}, false};
      auto end = std::min(hits.size(), i + settings_.max_hits_per_message);
      a.hits.assign(hits.begin() + static_cast<std::ptrdiff_t>(i), hits.begin() + static_cast<std::ptrdiff_t>(end));
      i = end;
      a.last = i >= hits.size();
      c_.net->send(self_, from, std::move(a));
    } while (i < hits.size());
  } else if (auto* a = std::get_if<query_answer>(&m)) {
    accept(from, *a);
  }
}

void query_fanout::accept(const std::string& from, const query_answer& a) {
  auto it = queries_.find(a.query_id);
  if (it == queries_.end()) return;  // finished, or never ours
  auto& q = it->second;
  if (!q.waiting.count(from)) {
    ++refused_;
    return;
  }
  std::vector<query_hit> fresh;
  for (const auto& h : a.hits) {
    // A NaN would break the ranking's ordering for everyone downstream.
    if (!std::isfinite(h.score)) {
      ++refused_;
      continue;
    }
    auto [pos, inserted] = q.best.try_emplace(h.lfn, h);
    if (inserted) {
      fresh.push_back(h);
    } else if (h.score > pos->second.score) {
      pos->second = h;
      fresh.push_back(h);
    }
  }
  if (a.last) {
    q.waiting.erase(from);
    ++q.progress.answered;
  }
  // A site's last batch moves progress even when it brings nothing new.
  if ((!fresh.empty() || a.last) && q.callback) q.callback(fresh, q.progress);
  if (q.waiting.empty()) finish(a.query_id, false);
}

void query_fanout::finish(const std::string& id, bool deadline) {
  auto it = queries_.find(id);
  if (it == queries_.end()) return;
  auto q = std::move(it->second);
  queries_.erase(it);
  q.progress.done = true;
  q.progress.deadline_passed = deadline;
  if (q.callback) q.callback({}, q.progress);
}

void query_fanout::tick() {
  auto now = c_.time->now();
  std::vector<std::string> expired;
  for (const auto& [id, q] : queries_)
    if (now >= q.deadline) expired.push_back(id);
  for (const auto& id : expired) finish(id, true);
}

}  // namespace dm2::dht
