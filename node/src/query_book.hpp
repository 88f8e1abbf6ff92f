// The home node's record of the similarity queries it started (POST /v1/queries): progress and
// the merged, ranked hits as answers stream in, kept a while after the query finishes so
// clients can poll (GET /v1/queries/{id}). Bounded: at most max_running queries at once,
// finished ones forgotten after keep_finished (and the oldest first beyond max_finished).
// A query by image has a second stage (docs/similarity.md, "Stages"): when stage 1 is done, the
// best candidates are rescored by their owners; the query is done once stage 2 is.
// Thread-safe: the overlay service thread records answers while HTTP threads read.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "dm2/dht/query_fanout.hpp"
#include "dm2/result.hpp"
#include "stage_two.hpp"

namespace dm2::node {

struct query_book_settings {
  std::size_t max_running = 16;                     // more at once -> 429
  std::chrono::milliseconds keep_finished{10 * 60 * 1000};  // then GET answers 404
  std::size_t max_finished = 1024;                  // beyond, the oldest finished are forgotten
};

// What a query asks of the book besides its top_k.
struct query_book_options {
  std::size_t top_k = 20;
  std::string exclude_lfn;         // a query by a series does not find itself
  std::size_t stage_two_depth = 0;  // 0: stage 1 only
  std::chrono::milliseconds timeout{60 * 1000};  // the query's deadline, from open()
  std::string querier{};  // who ran it (a user's pseudonym, or the site id): only he grants its result
};

// Stage 2's progress: owners asked, answered, and those that did not (down, late, refusing).
struct stage_two_progress {
  bool planned = false;  // the query has a stage 2
  bool started = false;
  bool done = false;
  std::string algorithm, version;  // what the owners were asked to compute
  std::size_t candidates = 0;
  std::vector<std::string> asked;
  std::vector<std::string> answered;
  std::vector<std::string> failed;  // asked but no answer in time (their hits keep stage 1)
};

// A ranked hit: its stage-1 hit and, for a stage-2 candidate, what its owner answered.
struct ranked_hit {
  dht::query_hit hit;  // score: stage 1's (NCC of signatures)
  std::optional<stage_two_score> stage_two;
};

struct query_view {
  dht::query_progress progress;      // stage 1's, except `done`: set once both stages are
  stage_two_progress stage_two;
  // At most top_k: first the stage-2 scored candidates by their stage-2 score, then candidates
  // whose owner gave no score (stage-1 order), then the rest by stage-1 score (dht::ranks_before).
  std::vector<ranked_hit> hits;
  std::uint64_t revision = 0;  // grows with every change: what a watcher has seen
  bool deadline_reached = false;
  std::string querier{};  // query_book_options::querier
};

class query_book {
 public:
  using clock_fn = std::function<std::chrono::milliseconds()>;  // monotonic
  explicit query_book(query_book_settings settings = {}, clock_fn now = steady_now);

  // Registers a new query under a fresh random id (32 hex digits) and returns the id.
  // Errors: unavailable (max_running queries are running; the route answers 429).
  result<std::string> open(query_book_options options);
  // Records a batch from the fan-out (its on_hits callback). Unknown ids are ignored, and so are
  // hits with an LFN not 32 characters, an owner over 64 bytes or attributes over 4 KiB, and the
  // excluded LFN. Returns true once, when stage 1 is done and a stage 2 is due (the caller starts
  // it; the query stays running until finish_stage_two).
  bool record(const std::string& id, const std::vector<dht::query_hit>& hits, const dht::query_progress& progress);
  // The best `stage_two_depth` stage-1 hits of a query whose stage 2 is due; marks stage 2
  // started with what it computes and whom it asks (the owners of those hits).
  std::vector<dht::query_hit> start_stage_two(const std::string& id, const std::string& algorithm,
                                              const std::string& version);
  // One owner's outcome: its scores (or, for a site that gave none, each candidate's reason).
  void record_stage_two(const std::string& id, const std::string& site, bool answered,
                        const std::vector<stage_two_score>& scores);
  // Stage 2 is over (every owner answered or failed, or the deadline came): the query is done.
  void finish_stage_two(const std::string& id);
  // Drops a query that could not be started.
  void cancel(const std::string& id);
  // Progress and ranked hits so far; nullopt for an unknown or forgotten id.
  std::optional<query_view> view(const std::string& id);
  // The view once its revision is past `seen`, or after `at_most` (unchanged then); nullopt
  // for an unknown, cancelled or forgotten id. Blocks the calling thread (an event stream's).
  std::optional<query_view> wait_for_change(const std::string& id, std::uint64_t seen,
                                            std::chrono::milliseconds at_most);
  std::size_t running();

  static std::chrono::milliseconds steady_now();

 private:
  struct entry {
    query_book_options options;
    dht::query_progress progress;
    stage_two_progress stage_two;
    std::map<std::string, stage_two_score> stage_two_scores;  // lfn -> outcome
    std::map<std::string, dht::query_hit> best;  // lfn -> best hit so far
    std::optional<std::chrono::milliseconds> finished_at;
    std::chrono::milliseconds deadline{0};
    std::uint64_t revision = 0;
  };
  void forget_old();  // mutex held
  void finish(entry& q);  // mutex held
  void changed(entry& q);  // mutex held: a new revision, watchers woken
  query_view view_of(const entry& q);  // mutex held

  query_book_settings settings_;
  clock_fn now_;
  std::mutex mutex_;
  std::condition_variable changes_;
  std::map<std::string, entry> queries_;
  std::size_t running_ = 0;
};

}  // namespace dm2::node
