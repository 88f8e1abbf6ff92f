// Freshness and replay checks for signed requests from other sites (signed queries, user
// assertions): a request is accepted once, only within [issued_at - max_skew, issued_at + max_age]
// of this site's clock; its (site, id) is remembered until it would be refused as stale anyway.
// Not thread-safe: each owner calls it under its own strand or lock.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

namespace dm2::node {

struct replay_settings {
  std::int64_t max_age_ms = 120'000;     // older requests (by issued_at) are refused as stale
  std::int64_t max_skew_ms = 30'000;     // requests issued this far in the future are refused
  std::size_t max_remembered = 100'000;  // ids remembered; when full, new requests are refused
};

class replay_guard {
 public:
  explicit replay_guard(replay_settings settings = {}) : settings_(settings) {}

  // nullptr when the request is fresh and new (it is then remembered); otherwise why it is
  // refused: "stale", "from_the_future", "replayed", "too_many_recent_requests".
  const char* admit(const std::string& site, const std::string& id, std::int64_t issued_at, std::int64_t now) {
    if (issued_at < now - settings_.max_age_ms) return "stale";
    if (issued_at > now + settings_.max_skew_ms) return "from_the_future";
    forget_old(now);
    auto key = std::make_pair(site, id);
    if (seen_.count(key)) return "replayed";
    if (seen_.size() >= settings_.max_remembered) return "too_many_recent_requests";
    seen_.insert(key);
    seen_by_time_.emplace(issued_at, std::move(key));
    return nullptr;
  }

 private:
  void forget_old(std::int64_t now) {
    // A request issued before now - max_age is refused as stale anyway: its id need not be kept.
    auto horizon = now - settings_.max_age_ms;
    while (!seen_by_time_.empty() && seen_by_time_.begin()->first < horizon) {
      seen_.erase(seen_by_time_.begin()->second);
      seen_by_time_.erase(seen_by_time_.begin());
    }
  }

  replay_settings settings_;
  std::set<std::pair<std::string, std::string>> seen_;
  std::multimap<std::int64_t, std::pair<std::string, std::string>> seen_by_time_;
};

}  // namespace dm2::node
