// Work that outlives the request that started it (stage 2 of a query by image): each job on a
// thread of its own, joined by join() (the node calls it at stop, before the services the jobs
// use go away); finished threads are reaped as new jobs start. Jobs must end by themselves
// (stage 2 is bounded by its query's deadline). Thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <thread>

namespace dm2::node {

class background_jobs {
 public:
  background_jobs() = default;
  background_jobs(const background_jobs&) = delete;
  background_jobs& operator=(const background_jobs&) = delete;
  ~background_jobs() { join(); }

  // Runs `job` on a new thread; false (and nothing runs) once join() has been called.
  bool run(std::function<void()> job);
  // Waits for every job; later run() calls are refused.
  void join();

 private:
  struct worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  std::mutex mutex_;
  bool closed_ = false;
  std::list<worker> workers_;
};

}  // namespace dm2::node
