// The free texts of the diagnoses recorded at this site, kept here and never replicated: the
// index record carries each diagnosis' code and a has_text flag, the text stays with the owner
// (docs/security.md, "Diagnoses"). Stored sealed in the nominative family under
// "diagnosis/<lfn hex>/<n>" as {"text", "author" (pseudonym), "recorded_at_ms"}.
// Thread-safe (the database is); a value type, copied into the routes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "dm2/result.hpp"
#include "dm2/storage/database.hpp"
#include "dm2/storage/transaction.hpp"

namespace dm2::node {

class diagnosis_texts {
 public:
  diagnosis_texts() = default;
  explicit diagnosis_texts(storage::database& db) : db_(&db) {}

  // Adds the text of diagnosis `n` (1-based) of `lfn` to `t` (committed with the record).
  static void put(storage::transaction& t, const std::string& lfn, std::size_t n, const std::string& text,
                  const std::string& author, std::int64_t now_ms);
  // The text of diagnosis `n` of `lfn`, nullopt when none is kept here. Errors: storage_failure,
  // integrity_failure (a stored value that is not ours).
  result<std::optional<std::string>> text(const std::string& lfn, std::size_t n) const;

 private:
  storage::database* db_ = nullptr;
};

}  // namespace dm2::node
