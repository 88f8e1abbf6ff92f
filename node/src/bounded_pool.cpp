#include "bounded_pool.hpp"

namespace dm2::node {

bounded_pool::bounded_pool(std::size_t threads, std::size_t max_waiting) : max_waiting_(max_waiting) {
  for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

bool bounded_pool::submit(std::function<void()> job) {
  {
    std::lock_guard lock(mutex_);
    if (closed_ || waiting_.size() >= max_waiting_) return false;
    waiting_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

void bounded_pool::join() {
  {
    std::lock_guard lock(mutex_);
    if (closed_ && threads_.empty()) return;
    closed_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void bounded_pool::work() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return closed_ || !waiting_.empty(); });
      if (waiting_.empty()) return;  // closed and drained
      job = std::move(waiting_.front());
      waiting_.pop_front();
    }
    job();
  }
}

}  // namespace dm2::node
