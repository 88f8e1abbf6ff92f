#include "dm2/dht/query_fanout.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <unordered_set>

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
  q.body = body;
  q.started = c_.time->now();
  q.timeout = timeout;
  q.deadline = q.started + timeout;
  q.callback = std::move(callback);
  query_request req{query_id, body, {}, q.deadline.count(), {}, {}};
  req.signature = auth_.sign(query_id, body, req.deadline_ms);
  for (const auto& s : c_.members->live_sites()) {
    q.waiting.insert(s.site_id);
    req.asked.push_back(s.site_id);
  }
  q.asked = req.asked;
  q.progress.asked = req.asked.size();
  q.progress.asked_sites = req.asked;
  for (const auto& site : req.asked)
    if (site != self_) c_.net->send(self_, site, req);
  if (q.waiting.count(self_)) {
    auto hits = answer(req);
    if (hits && observer_) observer_(self_, query_id, hits->size());
    accept(self_, query_answer{query_id, hits ? std::move(*hits) : std::vector<query_hit>{}, true, restoring()});
  }
}

// Our own records, plus our copies of records whose owner the querier did not ask. Deciding by
// the querier's view rather than ours means no record falls between two views of who is down;
// the price is that every holder of a down owner's record answers it (the querier deduplicates).
// At most the plan's top_k of them, best first.
std::optional<std::vector<query_hit>> query_fanout::answer(const query_request& q) {
  auto plan = plan_(q.body);
  if (!plan || !plan->score) return std::nullopt;
  // Which sites the querier asked (else an owner's copies are ours to answer for): hashed once
  // per request, as `asked` lists every live site (thousands in a large consortium).
  std::unordered_set<std::string> asked(q.asked.begin(), q.asked.end());
  // A hedge asks only for copies of the late sites' records.
  std::set<std::string> late(q.answer_for.begin(), q.answer_for.end());
  query_plan::owner_test answers_for = [&](const std::string& owner) {
    if (!late.empty()) return owner != self_ && late.count(owner) > 0;
    return owner == self_ || !asked.count(owner);  // else its owner answers
  };
  return answer_from_store(*c_.store, *plan, answers_for);
}

void keep_best(std::vector<query_hit>& hits, std::size_t top_k) {
  auto keep = std::min(hits.size(), top_k);
  std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(keep), hits.end(), ranks_before);
  hits.resize(keep);
}

std::vector<query_hit> answer_from_store(replica_store& store, const query_plan& plan,
                                         const query_plan::owner_test& answers_for) {
  if (plan.search) return plan.search(answers_for);
  // Choose from the summaries, then read only the records this site answers for: a site holds
  // k replicas of other owners' records for every one of its own, and reading is decrypting.
  std::vector<std::string> ours;
  store.for_each_summary([&](const record_summary& r) {
    if (answers_for(r.owner)) ours.push_back(r.lfn);
  });
  std::vector<query_hit> hits;
  for (const auto& lfn : ours)
    if (auto r = store.get_record(lfn))
      if (auto hit = plan.score(*r)) hits.push_back(std::move(*hit));
  keep_best(hits, plan.top_k);
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
      a.restoring = a.last && q->answer_for.empty() && restoring();
      c_.net->send(self_, from, std::move(a));
    } while (i < hits.size());
  } else if (auto* a = std::get_if<query_answer>(&m)) {
    accept(from, *a);
  }
}

void query_fanout::accept(const std::string& from, const query_answer& a) {
  // An answer to the query itself, or to one of its hedges.
  std::string id = a.query_id;
  bool to_hedge = false;
  if (auto h = hedge_of_.find(id); h != hedge_of_.end()) {
    id = h->second;
    to_hedge = true;
  }
  auto it = queries_.find(id);
  if (it == queries_.end()) return;  // finished, or never ours
  auto& q = it->second;
  if (to_hedge ? !q.hedge_waiting.count({a.query_id, from}) : !q.waiting.count(from)) {
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
  if (a.last && to_hedge) {
    q.hedge_waiting.erase({a.query_id, from});
  } else if (a.last) {
    if (a.restoring && !q.hedged.count(from)) q.restoring.insert(from);
    q.waiting.erase(from);
    ++q.progress.answered;
    q.progress.answered_sites.push_back(from);
    if (from != self_) q.answer_times.push_back(c_.time->now() - q.started);
  }
  // A site's last batch moves progress even when it brings nothing new.
  if ((!fresh.empty() || a.last) && q.callback) q.callback(fresh, q.progress);
  complete_if_covered(id, q);
}

// Complete: every asked site answered or was hedged (at most k of them), and every hedge was
// answered (or its silent holders given up, see drop_silent_holders).
void query_fanout::complete_if_covered(const std::string& id, running_query& q) {
  bool covered = q.waiting.size() <= settings_.replicas &&
                 std::all_of(q.waiting.begin(), q.waiting.end(), [&](const std::string& s) { return q.hedged.count(s); });
  if (!covered || !q.hedge_waiting.empty()) return;
  if (q.restoring.empty()) return finish(id, false);
  // Every site that answered, but the restoring ones, holds copies that may be theirs.
  std::vector<std::string> owners(q.restoring.begin(), q.restoring.end()), holders;
  q.restoring.clear();
  for (const auto& s : q.progress.answered_sites)
    if (!std::binary_search(owners.begin(), owners.end(), s)) holders.push_back(s);
  if (holders.empty()) return finish(id, false);
  ask_holders(id, q, owners, holders);
}

// A holder that dies after being asked for copies would hold the query to its deadline. Each
// record has k copies and every live site was asked, so fewer than k silent holders still leave
// an answered copy of every record: they are given up once a hedge delay has passed. As many as
// k silent may have taken a record's every copy with them: the query waits for its deadline.
bool query_fanout::drop_silent_holders(running_query& q, millis now) {
  bool dropped = false;
  for (const auto& [hedge_id, sent] : q.hedge_sent) {
    if (now - sent < hedge_delay(q)) continue;
    auto first = q.hedge_waiting.lower_bound({hedge_id, std::string{}});
    auto last = first;
    std::size_t silent = 0;
    while (last != q.hedge_waiting.end() && last->first == hedge_id) ++last, ++silent;
    if (silent == 0 || silent >= settings_.replicas) continue;
    spdlog::info("event=query_hedge_holders_silent query={} holders={}", hedge_id.substr(0, 64), silent);
    q.hedge_waiting.erase(first, last);
    dropped = true;
  }
  return dropped;
}

void query_fanout::finish(const std::string& id, bool deadline) {
  auto it = queries_.find(id);
  if (it == queries_.end()) return;
  auto q = std::move(it->second);
  queries_.erase(it);
  std::erase_if(hedge_of_, [&](const auto& h) { return h.second == id; });
  q.progress.done = true;
  q.progress.deadline_passed = deadline;
  if (q.callback) q.callback({}, q.progress);
}

millis query_fanout::hedge_delay(const running_query& q) const {
  auto cap = millis(static_cast<std::int64_t>(settings_.hedge_fraction * static_cast<double>(q.timeout.count())));
  if (q.answer_times.empty()) return cap;
  auto times = q.answer_times;
  auto mid = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
  std::nth_element(times.begin(), mid, times.end());
  auto by_median = millis(static_cast<std::int64_t>(settings_.hedge_multiple * static_cast<double>(mid->count())));
  return std::min(cap, std::max(settings_.hedge_min, by_median));
}

// Asks the sites that answered (and this one) for their copies of the late sites' records. The
// hedge has its own id and signature: a site refuses a query id it has already answered.
void query_fanout::hedge(const std::string& id, running_query& q) {
  std::vector<std::string> late;
  for (const auto& s : q.waiting)
    if (!q.hedged.count(s) && s != self_) late.push_back(s);
  if (late.empty()) return;
  std::vector<std::string> holders{self_};
  for (const auto& s : c_.members->live_sites())
    if (s.site_id != self_ && !q.waiting.count(s.site_id)) holders.push_back(s.site_id);
  ask_holders(id, q, late, holders);
}

void query_fanout::ask_holders(const std::string& id, running_query& q, const std::vector<std::string>& owners,
                               const std::vector<std::string>& holders) {
  auto hedge_id = id + "/hedge-" + std::to_string(q.hedged.size());  // grows with every hedge
  query_request req{hedge_id, q.body, {}, q.deadline.count(), q.asked, owners};
  req.signature = auth_.sign(hedge_id, q.body, req.deadline_ms);
  hedge_of_[hedge_id] = id;
  q.hedge_sent[hedge_id] = c_.time->now();
  q.hedged.insert(owners.begin(), owners.end());
  q.progress.hedged = q.hedged.size();
  q.progress.hedged_sites.insert(q.progress.hedged_sites.end(), owners.begin(), owners.end());
  for (const auto& h : holders) q.hedge_waiting.insert({hedge_id, h});
  spdlog::info("event=query_hedged query={} sites={} holders={}", id.substr(0, 64), owners.size(), holders.size());
  ++hedges_;
  bool ours = false;
  for (const auto& h : holders)
    if (h != self_) c_.net->send(self_, h, req);
    else ours = true;
  if (!ours) return;
  // Our own copies last: answering may finish the query, which erases `q`.
  auto hits = answer(req);
  accept(self_, query_answer{hedge_id, hits ? std::move(*hits) : std::vector<query_hit>{}, true});
}

void query_fanout::tick() {
  auto now = c_.time->now();
  std::vector<std::string> expired, late, given_up;
  for (auto& entry : queries_) {
    // Not a structured binding: clang 14 cannot capture one in the lambda below.
    const auto& id = entry.first;
    auto& q = entry.second;
    if (now >= q.deadline) {
      expired.push_back(id);
      continue;
    }
    if (drop_silent_holders(q, now)) given_up.push_back(id);
    if (settings_.hedge_fraction > 0 && now - q.started >= hedge_delay(q) &&
        std::any_of(q.waiting.begin(), q.waiting.end(), [&](const std::string& s) { return !q.hedged.count(s); }))
      late.push_back(id);
  }
  for (const auto& id : late)
    if (auto it = queries_.find(id); it != queries_.end()) hedge(id, it->second);
  for (const auto& id : given_up)
    if (auto it = queries_.find(id); it != queries_.end()) complete_if_covered(id, it->second);
  for (const auto& id : expired) finish(id, true);
}

}  // namespace dm2::dht
