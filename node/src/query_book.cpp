#include "query_book.hpp"

#include <algorithm>

#include "dm2/crypto/hash.hpp"

namespace dm2::node {
namespace {

constexpr std::size_t max_owner_bytes = 64;      // storage::index_record_limits::owner_site
constexpr std::size_t max_summary_bytes = 4096;  // the attributes' JSON is far smaller

}  // namespace

query_book::query_book(query_book_settings settings, clock_fn now) : settings_(settings), now_(std::move(now)) {}

std::chrono::milliseconds query_book::steady_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch());
}

result<std::string> query_book::open(std::size_t top_k) {
  std::lock_guard lock(mutex_);
  forget_old();
  if (running_ >= settings_.max_running)
    return fail(errc::unavailable, std::to_string(running_) + " queries are running; try again later");
  auto id = crypto::to_hex(crypto::random_bytes(16));
  queries_[id].top_k = top_k;
  ++running_;
  return id;
}

void query_book::record(const std::string& id, const std::vector<dht::query_hit>& hits,
                        const dht::query_progress& progress) {
  std::lock_guard lock(mutex_);
  auto it = queries_.find(id);
  if (it == queries_.end() || it->second.finished_at) return;
  auto& q = it->second;
  for (const auto& h : hits) {
    // Hits come from peers: keep only what this node's own sites would send.
    if (h.lfn.size() != 32 || h.owner.size() > max_owner_bytes || h.summary.size() > max_summary_bytes) continue;
    auto [pos, inserted] = q.best.try_emplace(h.lfn, h);
    if (!inserted && dht::ranks_before(h, pos->second)) pos->second = h;
  }
  // Only the best top_k can ever be shown: keep memory bounded by answers, not by sites x top_k.
  if (q.best.size() > 2 * q.top_k) {
    std::vector<dht::query_hit> all;
    for (auto& [lfn, h] : q.best) all.push_back(std::move(h));
    std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(q.top_k), all.end(), dht::ranks_before);
    all.resize(q.top_k);
    q.best.clear();
    for (auto& h : all) q.best.emplace(h.lfn, std::move(h));
  }
  q.progress = progress;
  if (progress.done) {
    q.finished_at = now_();
    --running_;
  }
}

void query_book::cancel(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = queries_.find(id);
  if (it == queries_.end()) return;
  if (!it->second.finished_at) --running_;
  queries_.erase(it);
}

std::optional<query_view> query_book::view(const std::string& id) {
  std::lock_guard lock(mutex_);
  forget_old();
  auto it = queries_.find(id);
  if (it == queries_.end()) return std::nullopt;
  query_view v{it->second.progress, {}};
  for (const auto& [lfn, h] : it->second.best) v.hits.push_back(h);
  auto keep = std::min(v.hits.size(), it->second.top_k);
  std::partial_sort(v.hits.begin(), v.hits.begin() + static_cast<std::ptrdiff_t>(keep), v.hits.end(), dht::ranks_before);
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
