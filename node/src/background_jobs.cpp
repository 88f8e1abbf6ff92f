#include "background_jobs.hpp"

namespace dm2::node {

bool background_jobs::run(std::function<void()> job) {
  std::lock_guard lock(mutex_);
  if (closed_) return false;
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (!it->finished->load()) {
      ++it;
      continue;
    }
    it->thread.join();
    it = workers_.erase(it);
  }
  auto finished = std::make_shared<std::atomic<bool>>(false);
  workers_.push_back({std::thread([job = std::move(job), finished] {
                        job();
                        finished->store(true);
                      }),
                      finished});
  return true;
}

void background_jobs::join() {
  std::list<worker> all;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    all.swap(workers_);
  }
  for (auto& w : all) w.thread.join();
}

}  // namespace dm2::node
