// The home node's record of the similarity queries it started (POST /v1/queries): progress and
// the merged, ranked hits as answers stream in, kept a while after the query finishes so
// clients can poll (GET /v1/queries/{id}). Bounded: at most max_running queries at once,
// finished ones forgotten after keep_finished (and the oldest first beyond max_finished).
// Thread-safe: the overlay service thread records answers while HTTP threads read.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dm2/dht/query_fanout.hpp"
#include "dm2/result.hpp"

namespace dm2::node {

struct query_book_settings {
  std::size_t max_running = 16;                     // more at once -> 429
  std::chrono::milliseconds keep_finished{10 * 60 * 1000};  // then GET answers 404
  std::size_t max_finished = 1024;                  // beyond, the oldest finished are forgotten
};

struct query_view {
  dht::query_progress progress;
  std::vector<dht::query_hit> hits;  // best first (dht::ranks_before), at most top_k
};

class query_book {
 public:
  using clock_fn = std::function<std::chrono::milliseconds()>;  // monotonic
  explicit query_book(query_book_settings settings = {}, clock_fn now = steady_now);

  // Registers a new query under a fresh random id (32 hex digits) and returns the id.
  // Errors: unavailable (max_running queries are running; the route answers 429).
  result<std::string> open(std::size_t top_k);
  // Records a batch from the fan-out (its on_hits callback). Unknown ids are ignored, and so are
  // hits with an LFN not 32 characters, an owner over 64 bytes or attributes over 4 KiB.
  void record(const std::string& id, const std::vector<dht::query_hit>& hits, const dht::query_progress& progress);
  // Drops a query that could not be started.
  void cancel(const std::string& id);
  // Progress and ranked hits so far; nullopt for an unknown or forgotten id.
  std::optional<query_view> view(const std::string& id);
  std::size_t running();

  static std::chrono::milliseconds steady_now();

 private:
  struct entry {
    std::size_t top_k = 0;
    dht::query_progress progress;
    std::map<std::string, dht::query_hit> best;  // lfn -> best hit so far
    std::optional<std::chrono::milliseconds> finished_at;
  };
  void forget_old();  // mutex held

  query_book_settings settings_;
  clock_fn now_;
  std::mutex mutex_;
  std::map<std::string, entry> queries_;
  std::size_t running_ = 0;
};

}  // namespace dm2::node
