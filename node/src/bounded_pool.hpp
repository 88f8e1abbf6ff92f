// A few threads of their own and a bounded queue, for CPU-heavy work a request asked for (stage
// 2's scoring at an owner, docs/similarity.md "Stages") so that it never holds an HTTP request
// worker, and a burst is refused at once (the caller answers 503) rather than queued without
// bound. join() (the node calls it at stop) runs what is queued, then ends the threads.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dm2::node {

class bounded_pool {
 public:
  // `threads` >= 1 run the jobs; at most `max_waiting` jobs wait for one.
  bounded_pool(std::size_t threads, std::size_t max_waiting);
  bounded_pool(const bounded_pool&) = delete;
  bounded_pool& operator=(const bounded_pool&) = delete;
  ~bounded_pool() { join(); }

  // Queues `job`; false (nothing queued) when max_waiting jobs wait already, or after join().
  bool submit(std::function<void()> job);
  // Runs what is queued, then stops the threads; later submits are refused.
  void join();

 private:
  void work();

  const std::size_t max_waiting_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> waiting_;
  bool closed_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace dm2::node
