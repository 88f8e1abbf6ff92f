#include "query_book.hpp"

#include <algorithm>

#include "dm2/crypto/hash.hpp"
#include "query_scoring.hpp"

namespace dm2::node {
namespace {

constexpr std::size_t max_owner_bytes = 64;      // storage::index_record_limits::owner_site
constexpr std::size_t max_summary_bytes = 4096;  // the attributes' JSON is far smaller

}  // namespace

query_book::query_book(query_book_settings settings, clock_fn now) : settings_(settings), now_(std::move(now)) {}

std::chrono::milliseconds query_book::steady_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch());
}

result<std::string> query_book::open(query_book_options options) {
  std::lock_guard lock(mutex_);
  forget_old();
  if (running_ >= settings_.max_running)
    return fail(errc::unavailable, std::to_string(running_) + " queries are running; try again later");
  auto id = crypto::to_hex(crypto::random_bytes(16));
  auto& q = queries_[id];
  q.options = std::move(options);
  q.stage_two.planned = q.options.stage_two_depth > 0;
  q.deadline = now_() + q.options.timeout;
  ++running_;
  return id;
}

bool query_book::record(const std::string& id, const std::vector<dht::query_hit>& hits,
                        const dht::query_progress& progress) {
  std::lock_guard lock(mutex_);
  auto it = queries_.find(id);
  if (it == queries_.end() || it->second.finished_at || it->second.stage_two.started) return false;
  auto& q = it->second;
  const auto top_k = q.options.top_k;
  for (const auto& h : hits) {
    // Hits come from peers: keep only what this node's own sites would send.
    if (h.lfn.size() != 32 || h.owner.size() > max_owner_bytes || h.summary.size() > max_summary_bytes) continue;
    if (h.lfn == q.options.exclude_lfn) continue;
    auto [pos, inserted] = q.best.try_emplace(h.lfn, h);
    if (!inserted && dht::ranks_before(h, pos->second)) pos->second = h;
  }
  // Only the best top_k can ever be shown: keep memory bounded by answers, not by sites x top_k.
  if (q.best.size() > 2 * top_k) {
    std::vector<dht::query_hit> all;
    for (auto& [lfn, h] : q.best) all.push_back(std::move(h));
    std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(top_k), all.end(), dht::ranks_before);
    all.resize(top_k);
    q.best.clear();
    for (auto& h : all) q.best.emplace(h.lfn, std::move(h));
  }
  q.progress = progress;
  changed(q);
  if (!progress.done) return false;
  if (q.stage_two.planned) {
    q.progress.done = false;  // until stage 2 is
    q.stage_two.started = true;
    return true;
  }
  finish(q);
  return false;
}

void query_book::finish(entry& q) {
  q.progress.done = true;
  q.finished_at = now_();
  --running_;
  changed(q);
}

void query_book::changed(entry& q) {
  ++q.revision;
  changes_.notify_all();
}

std::vector<dht::query_hit> query_book::start_stage_two(const std::string& id, const std::string& algorithm,
                                                        const std::string& version) {
  std::lock_guard lock(mutex_);
  auto it = queries_.find(id);
  if (it == queries_.end() || it->second.finished_at) return {};
  auto& q = it->second;
  std::vector<dht::query_hit> all;
  for (const auto& [lfn, h] : q.best)
    if (h.score > unscored) all.push_back(h);  // hits without a signature are no candidates
  auto depth = std::min({all.size(), q.options.stage_two_depth, q.options.top_k});
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(depth), all.end(), dht::ranks_before);
  all.resize(depth);
  q.stage_two.algorithm = algorithm;
  q.stage_two.version = version;
  q.stage_two.candidates = depth;
  for (const auto& h : all)
    if (std::find(q.stage_two.asked.begin(), q.stage_two.asked.end(), h.owner) == q.stage_two.asked.end())
      q.stage_two.asked.push_back(h.owner);
  changed(q);
  return all;
}

void query_book::record_stage_two(const std::string& id, const std::string& site, bool answered,
                                  const std::vector<stage_two_score>& scores) {
  std::lock_guard lock(mutex_);
  auto it = queries_.find(id);
  if (it == queries_.end() || it->second.finished_at) return;
  auto& q = it->second;
  (answered ? q.stage_two.answered : q.stage_two.failed).push_back(site);
  for (const auto& s : scores)
    if (q.best.count(s.lfn)) q.stage_two_scores[s.lfn] = s;  // only candidates this query has
  changed(q);
}

void query_book::finish_stage_two(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = queries_.find(id);
  if (it == queries_.end() || it->second.finished_at) return;
  it->second.stage_two.done = true;
  finish(it->second);
}

void query_book::cancel(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = queries_.find(id);
  if (it == queries_.end()) return;
  if (!it->second.finished_at) --running_;
  queries_.erase(it);
  changes_.notify_all();
}

std::optional<query_view> query_book::view(const std::string& id) {
  std::lock_guard lock(mutex_);
  forget_old();
  auto it = queries_.find(id);
  if (it == queries_.end()) return std::nullopt;
  return view_of(it->second);
}

std::optional<query_view> query_book::wait_for_change(const std::string& id, std::uint64_t seen,
                                                      std::chrono::milliseconds at_most) {
  std::unique_lock lock(mutex_);
  auto current = [&] { return queries_.find(id); };
  changes_.wait_for(lock, at_most, [&] {
    auto it = current();
    return it == queries_.end() || it->second.revision > seen;
  });
  forget_old();
  auto it = current();
  if (it == queries_.end()) return std::nullopt;
  return view_of(it->second);
}

query_view query_book::view_of(const entry& q) {
  query_view v{q.progress, q.stage_two, {}, q.revision, now_() >= q.deadline, q.options.querier};
  for (const auto& [lfn, h] : q.best) {
    auto s = q.stage_two_scores.find(lfn);
    v.hits.push_back({h, s == q.stage_two_scores.end() ? std::nullopt : std::optional(s->second)});
  }
  // Tier 0: scored in stage 2; tier 1: a candidate without a stage-2 score; tier 2: the rest.
  auto tier = [](const ranked_hit& h) { return !h.stage_two ? 2 : h.stage_two->score ? 0 : 1; };
  auto before = [&](const ranked_hit& a, const ranked_hit& b) {
    if (tier(a) != tier(b)) return tier(a) < tier(b);
    if (tier(a) == 0 && *a.stage_two->score != *b.stage_two->score) return *a.stage_two->score > *b.stage_two->score;
    return dht::ranks_before(a.hit, b.hit);
  };
  auto keep = std::min(v.hits.size(), q.options.top_k);
  std::partial_sort(v.hits.begin(), v.hits.begin() + static_cast<std::ptrdiff_t>(keep), v.hits.end(), before);
  v.hits.resize(keep);
  return v;
}

std::size_t query_book::running() {
  std::lock_guard lock(mutex_);
  return running_;
}

void query_book::forget_old() {
  auto now = now_();
  std::vector<std::pair<std::chrono::milliseconds, std::string>> finished;
  for (auto it = queries_.begin(); it != queries_.end();) {
    const auto& at = it->second.finished_at;
    if (at && now - *at >= settings_.keep_finished) {
      it = queries_.erase(it);
      continue;
    }
    if (at) finished.emplace_back(*at, it->first);
    ++it;
  }
  if (finished.size() <= settings_.max_finished) return;
  std::sort(finished.begin(), finished.end());
  for (std::size_t i = 0; i < finished.size() - settings_.max_finished; ++i) queries_.erase(finished[i].second);
}

}  // namespace dm2::node
