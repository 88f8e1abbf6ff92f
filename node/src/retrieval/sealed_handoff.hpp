// The sealed bytes of another owner's series, handed from the thread reading its answer
// (owner_bundle.hpp) to the user's answer (series_answer::next, on the server's workers), in
// order, at most `capacity` bytes ahead: the home site holds a few files of the series at a time,
// never all of it, and the user's answer waits for the next file rather than for the series.
// Ciphertext only. Thread-safe: one writer, one reader.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::node {

class sealed_handoff {
 public:
  // `patience`: how long put() waits for the reader to take anything.
  sealed_handoff(std::size_t capacity, std::chrono::milliseconds patience);

  // The writer: queues a copy of `bytes`, first waiting while `capacity` bytes are queued.
  // False (nothing queued) once the reader is gone, or when it took nothing for `patience`
  // (a reader that stopped asking, the node stopping): the writer stops then.
  bool put(std::string_view bytes);
  // The writer: no more bytes; `why` the error that cut them short (ok: the bundle ended).
  void close(status why);

  // The reader: exactly `n` bytes into `out` (replaced), waiting for them; what is queued is
  // taken as it comes, so `n` may exceed the capacity. Errors: the writer's `why`, or
  // unavailable (closed before `n` bytes).
  status take(std::string& out, std::size_t n);
  // The reader is gone (its answer dropped): put() returns false from now on.
  void abandon();

  // Bytes queued now (for tests and the memory bound).
  std::size_t queued() const;

 private:
  const std::size_t capacity_;
  const std::chrono::milliseconds patience_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> pieces_;
  std::size_t offset_ = 0;  // into pieces_.front()
  std::size_t queued_ = 0;
  bool closed_ = false, abandoned_ = false;
  status why_{};
};

}  // namespace dm2::node
