// The node's audit trail as its routes and services see it: one call per decision about patient
// data or a peer's request. Entries go to the database's hash-chained, signed audit family
// (storage/audit.hpp). Thread-safe.
#pragma once

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

 private:
  storage::database& db_;
};

}  // namespace dm2::node
