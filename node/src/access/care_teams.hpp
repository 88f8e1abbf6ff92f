// Care teams: which physicians are in charge of which patient, at the patient's own site
// (accounts family, team/<patient ref>/<user pseudonym>). The patient is named by the opaque
// reference of his nominative record here (never a name). Every change is committed with its
// audit entry. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "dm2/result.hpp"
#include "dm2/storage/audit.hpp"
#include "dm2/storage/database.hpp"

namespace dm2::node::access {

// 1 to 64 of [a-z0-9._-]: what the nominative link store hands out.
bool valid_patient_ref(std::string_view ref);

class care_teams {
 public:
  explicit care_teams(storage::database& db) : db_(db) {}  // `db` outlives it

  // Errors: invalid_argument (ref), storage_failure.
  status add(const std::string& patient_ref, const std::string& user_id, storage::audit_event audit);
  // Errors: not_found (not a member), storage_failure.
  status remove(const std::string& patient_ref, const std::string& user_id, storage::audit_event audit);
  // Pseudonyms of the team's members. Errors: storage_failure, integrity_failure.
  result<std::vector<std::string>> members(const std::string& patient_ref) const;
  // Errors: storage_failure.
  result<bool> contains(const std::string& patient_ref, const std::string& user_id) const;

 private:
  storage::database& db_;
};

}  // namespace dm2::node::access
