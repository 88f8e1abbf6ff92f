// The site sync cursor (pacs::sync_cursor) kept in the node's database, so a restart resumes
// where the last sync stopped. It lists original series UIDs, so it lives in the nominative
// family (encrypted at rest), under "sync/cursor". Thread-safe (the database is).
#pragma once

#include "dm2/pacs/site_sync.hpp"
#include "dm2/storage/database.hpp"

namespace dm2::node {

class db_cursor_store final : public pacs::sync_cursor_store {
 public:
  explicit db_cursor_store(storage::database& db) : db_(db) {}
  // Errors: those of database::get, malformed_input.
  result<std::optional<pacs::sync_cursor>> load() override;
  // Errors: those of database::put.
  status save(const pacs::sync_cursor& cursor) override;

 private:
  storage::database& db_;
};

}  // namespace dm2::node
