// The node's audit trail as its routes and services see it: one call per decision about patient
// data or a peer's request. Entries go to the database's hash-chained, signed audit family
// (storage/audit.hpp). Appends are group-committed: callers that arrive while a commit is under
// way are written together by the next one, led by one of them (one WAL sync for many waiters),
// so audited reads are not bounded by the disk's sync rate. Thread-safe.
#pragma once

#include <cstddef>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "dm2/result.hpp"
#include "dm2/storage/audit.hpp"
#include "dm2/storage/database.hpp"

namespace dm2::node {

class audit_log {
 public:
  explicit audit_log(storage::database& db) : db_(db) {}  // `db` outlives the log

  // Appends one entry and returns once it is durable (synced). A failure is logged here too.
  // Errors: those of database::commit.
  status append(storage::audit_event event);
  // Appends `events` together, in order, in one commit (a caller's decisions about many series at
  // once, e.g. a stage-2 request's candidates): all durable when it returns, or none written.
  // Errors: those of database::commit.
  status append_all(std::vector<storage::audit_event> events);

  // The entries whose object is one of `objects` (LFNs: a patient's series), oldest first, at
  // most `limit` (the newest kept). Reads the whole chain: O(entries). Errors: those of
  // database::read_audit.
  result<std::vector<storage::audit_entry>> about(const std::set<std::string>& objects, std::size_t limit) const;

  // Commits attempted so far, and entries made durable (a failed caller's are not counted).
  std::size_t commits() const;
  std::size_t entries() const;

 private:
  struct waiter;
  // Commits `batch` as one transaction; if that fails, each caller's entries alone, so that one
  // bad entry fails only its own caller. Returns each entry's outcome. Called without the mutex held.
  std::vector<status> commit_batch(const std::vector<waiter*>& batch);

  static constexpr std::size_t max_batch = 256;  // callers a commit takes
  storage::database& db_;
  mutable std::mutex mutex_;
  std::vector<waiter*> queue_;  // FIFO; each waiter has its own condition variable
  bool leader_busy_ = false;
  std::size_t commits_ = 0, entries_ = 0;
};

}  // namespace dm2::node
