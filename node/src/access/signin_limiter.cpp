#include "signin_limiter.hpp"

#include <algorithm>

namespace dm2::node::access {

std::optional<std::int64_t> signin_limiter::blocked(const std::string& key, unsigned limit, std::int64_t now) {
  auto it = failures_.find(key);
  if (it == failures_.end()) return std::nullopt;
  auto& times = it->second;
  while (!times.empty() && times.front() <= now - limits_.window_s) times.pop_front();
  if (times.empty()) {
    failures_.erase(it);
    return std::nullopt;
  }
  if (times.size() < limit) return std::nullopt;
  // Free again when the oldest failure counted leaves the window.
  return std::max<std::int64_t>(1, times[times.size() - limit] + limits_.window_s - now);
}

void signin_limiter::note(const std::string& key, unsigned limit, std::int64_t now) {
  auto& times = failures_[key];
  times.push_back(now);
  while (times.size() > limit) times.pop_front();  // only the last `limit` matter
}

std::optional<std::int64_t> signin_limiter::retry_after(const std::string& name, const std::string& address,
                                                        std::int64_t now) {
  std::lock_guard lock(mutex_);
  auto by_name = blocked("a:" + name, limits_.per_account, now);
  auto by_address = blocked("r:" + address, limits_.per_address, now);
  if (by_name && by_address) return std::max(*by_name, *by_address);
  return by_name ? by_name : by_address;
}

void signin_limiter::failed(const std::string& name, const std::string& address, std::int64_t now) {
  std::lock_guard lock(mutex_);
  if (failures_.size() >= limits_.max_tracked) {
    // Drop the entry whose last failure is oldest: bounded memory under a spray of names.
    auto stalest = std::min_element(failures_.begin(), failures_.end(), [](const auto& a, const auto& b) {
      return a.second.back() < b.second.back();
    });
    failures_.erase(stalest);
  }
  note("a:" + name, limits_.per_account, now);
  note("r:" + address, limits_.per_address, now);
}

void signin_limiter::succeeded(const std::string& name) {
  std::lock_guard lock(mutex_);
  failures_.erase("a:" + name);
}

}  // namespace dm2::node::access
