#include "account_store.hpp"

#include <nlohmann/json.hpp>

#include "dm2/crypto/hash.hpp"
#include "dm2/storage/transaction.hpp"
#include "stored_json.hpp"

namespace dm2::node::access {
namespace {

using json = nlohmann::json;

json to_json(const account& a) {
  return {{"id", a.id},         {"name", a.name},         {"role", name_of(a.who)},
          {"password_hash", a.password_hash}, {"disabled", a.disabled}, {"patient_ref", a.patient_ref},
          {"created_at", a.created_at}};
}

result<account> from_json(std::string_view text) {
  auto j = parse_stored(text);
  if (!j) return std::move(j).err();
  try {
    account a;
    a.id = j->at("id").get<std::string>();
    a.name = j->at("name").get<std::string>();
    auto r = user_role_from(j->at("role").get<std::string>());
    if (!r) return fail(errc::integrity_failure, "stored account has an unknown role");
    a.who = *r;
    a.password_hash = j->at("password_hash").get<std::string>();
    a.disabled = j->at("disabled").get<bool>();
    a.patient_ref = j->at("patient_ref").get<std::string>();
    a.created_at = j->at("created_at").get<std::int64_t>();
    return a;
  } catch (const json::exception&) {
    return fail(errc::integrity_failure, "stored account is malformed");
  }
}

std::string user_key(std::string_view name) { return "user/" + std::string(name); }
std::string uid_key(std::string_view id) { return "uid/" + std::string(id); }

}  // namespace

bool valid_user_name(std::string_view name) {
  return !name.empty() && name.size() <= max_user_name && name.front() != '.' && name.front() != '-' &&
         name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") == std::string_view::npos;
}

result<std::optional<account>> account_store::by_name(std::string_view name) const {
  if (!valid_user_name(name)) return std::optional<account>{};
  auto stored = db_.get(storage::family::accounts, user_key(name));
  if (!stored) return std::move(stored).err();
  if (!stored->has_value()) return std::optional<account>{};
  auto a = from_json(**stored);
  if (!a) return std::move(a).err();
  return std::optional<account>{std::move(*a)};
}

result<std::optional<account>> account_store::by_id(std::string_view id) const {
  auto name = db_.get(storage::family::accounts, uid_key(id));
  if (!name) return std::move(name).err();
  if (!name->has_value()) return std::optional<account>{};
  return by_name(**name);
}

result<std::vector<account>> account_store::list() const {
  std::vector<account> out;
  status inner;
  auto s = db_.for_each_value(storage::family::accounts, "user/", [&](std::string_view, std::string_view value) {
    auto a = from_json(value);
    if (!a) {
      inner = std::move(a).err();
      return false;
    }
    out.push_back(std::move(*a));
    return true;
  });
  if (!s) return std::move(s).err();
  if (!inner) return std::move(inner).err();
  return out;
}

result<account> account_store::create(account a, storage::audit_event audit) {
  if (!valid_user_name(a.name))
    return fail(errc::invalid_argument, "a user name has 1 to 64 of a-z 0-9 . _ - (not starting with . or -)");
  if (a.who == role::site) return fail(errc::invalid_argument, "role must be patient, physician, researcher or site_admin");
  std::lock_guard lock(mutex_);
  auto existing = by_name(a.name);
  if (!existing) return std::move(existing).err();
  if (existing->has_value()) return fail(errc::conflict, "that user name is taken");
  a.id = crypto::to_hex(crypto::random_bytes(16));
  audit.object = a.id;
  storage::transaction t;
  t.put(storage::family::accounts, user_key(a.name), to_json(a).dump());
  t.put(storage::family::accounts, uid_key(a.id), a.name);
  t.append_audit(std::move(audit));
  if (auto s = db_.commit(std::move(t)); !s) return std::move(s).err();
  return a;
}

result<account> account_store::set_disabled(std::string_view name, bool disabled, storage::audit_event audit) {
  std::lock_guard lock(mutex_);
  auto existing = by_name(name);
  if (!existing) return std::move(existing).err();
  if (!existing->has_value()) return fail(errc::not_found, "no such user");
  auto a = std::move(**existing);
  a.disabled = disabled;
  audit.object = a.id;
  storage::transaction t;
  t.put(storage::family::accounts, user_key(a.name), to_json(a).dump());
  t.append_audit(std::move(audit));
  if (auto s = db_.commit(std::move(t)); !s) return std::move(s).err();
  return a;
}

}  // namespace dm2::node::access
