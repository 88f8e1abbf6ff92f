#include "sealed_handoff.hpp"

#include <algorithm>

namespace dm2::node {

sealed_handoff::sealed_handoff(std::size_t capacity, std::chrono::milliseconds patience)
    : capacity_(capacity), patience_(patience) {}

bool sealed_handoff::put(std::string_view bytes) {
  std::unique_lock lock(mutex_);
  if (!changed_.wait_for(lock, patience_, [&] { return abandoned_ || queued_ < capacity_; }) || abandoned_)
    return false;
  if (bytes.empty()) return true;
  pieces_.emplace_back(bytes);
  queued_ += bytes.size();
  changed_.notify_all();
  return true;
}

void sealed_handoff::close(status why) {
  std::lock_guard lock(mutex_);
  closed_ = true;
  why_ = std::move(why);
  changed_.notify_all();
}

status sealed_handoff::take(std::string& out, std::size_t n) {
  out.clear();
  out.reserve(std::min(n, capacity_));  // a larger file grows as it comes, never on a size alone
  std::unique_lock lock(mutex_);
  while (out.size() < n) {
    changed_.wait(lock, [&] { return queued_ > 0 || closed_; });
    if (queued_ == 0) {
      if (!why_) return why_;
      return fail(errc::unavailable, "the owner's answer ended before its last file");
    }
    auto& front = pieces_.front();
    auto count = std::min(front.size() - offset_, n - out.size());
    out.append(front, offset_, count);
    offset_ += count;
    queued_ -= count;
    if (offset_ == front.size()) {
      pieces_.pop_front();
      offset_ = 0;
    }
    changed_.notify_all();
  }
  return {};
}

void sealed_handoff::abandon() {
  std::lock_guard lock(mutex_);
  abandoned_ = true;
  pieces_.clear();
  queued_ = offset_ = 0;
  changed_.notify_all();
}

std::size_t sealed_handoff::queued() const {
  std::lock_guard lock(mutex_);
  return queued_;
}

}  // namespace dm2::node
