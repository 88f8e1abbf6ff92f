#include "care_teams.hpp"

#include <nlohmann/json.hpp>

#include "dm2/storage/transaction.hpp"

namespace dm2::node::access {
namespace {

std::string team_prefix(const std::string& ref) { return "team/" + ref + "/"; }

}  // namespace

bool valid_patient_ref(std::string_view ref) {
  return !ref.empty() && ref.size() <= 64 &&
         ref.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") == std::string_view::npos;
}

status care_teams::add(const std::string& patient_ref, const std::string& user_id, storage::audit_event audit) {
  if (!valid_patient_ref(patient_ref)) return fail(errc::invalid_argument, "a patient reference has 1 to 64 of a-z 0-9 . _ -");
  storage::transaction t;
  t.put(storage::family::accounts, team_prefix(patient_ref) + user_id, "{}");
  t.append_audit(std::move(audit));
  return db_.commit(std::move(t));
}

status care_teams::remove(const std::string& patient_ref, const std::string& user_id, storage::audit_event audit) {
  auto member = contains(patient_ref, user_id);
  if (!member) return std::move(member).err();
  if (!*member) return fail(errc::not_found, "that user is not in this care team");
  storage::transaction t;
  t.erase(storage::family::accounts, team_prefix(patient_ref) + user_id);
  t.append_audit(std::move(audit));
  return db_.commit(std::move(t));
}

result<std::vector<std::string>> care_teams::members(const std::string& patient_ref) const {
  std::vector<std::string> out;
  if (!valid_patient_ref(patient_ref)) return out;
  auto prefix = team_prefix(patient_ref);
  auto s = db_.for_each_value(storage::family::accounts, prefix, [&](std::string_view key, std::string_view) {
    out.emplace_back(key.substr(prefix.size()));
    return true;
  });
  if (!s) return std::move(s).err();
  return out;
}

result<bool> care_teams::contains(const std::string& patient_ref, const std::string& user_id) const {
  if (!valid_patient_ref(patient_ref)) return false;
  auto stored = db_.get(storage::family::accounts, team_prefix(patient_ref) + user_id);
  if (!stored) return std::move(stored).err();
  return stored->has_value();
}

}  // namespace dm2::node::access
