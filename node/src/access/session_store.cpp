#include "session_store.hpp"

#include "dm2/crypto/hash.hpp"
#include "dm2/storage/transaction.hpp"
#include "stored_json.hpp"

namespace dm2::node::access {
namespace {

constexpr std::size_t token_hex_size = 64;

bool well_formed(std::string_view token) {
  return token.size() == token_hex_size && token.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

std::string key_of(std::string_view token) { return "session/" + crypto::to_hex(crypto::sha256(token)); }

}  // namespace

result<std::string> session_store::open(const std::string& user_id, std::int64_t expires_at) {
  auto token = crypto::to_hex(crypto::random_bytes(32));
  nlohmann::json value = {{"user_id", user_id}, {"expires_at", expires_at}};
  if (auto s = db_.put(storage::family::accounts, key_of(token), value.dump()); !s) return std::move(s).err();
  return token;
}

result<std::optional<session>> session_store::find(std::string_view token, std::int64_t now) {
  if (!well_formed(token)) return std::optional<session>{};
  auto stored = db_.get(storage::family::accounts, key_of(token));
  if (!stored) return std::move(stored).err();
  if (!stored->has_value()) return std::optional<session>{};
  auto j = parse_stored(**stored);
  if (!j) return std::move(j).err();
  session s{j->value("user_id", ""), j->value("expires_at", std::int64_t{0})};
  if (s.expires_at <= now) {
    (void)revoke(token);
    return std::optional<session>{};
  }
  return std::optional<session>{std::move(s)};
}

status session_store::revoke(std::string_view token) {
  if (!well_formed(token)) return {};
  storage::transaction t;
  t.erase(storage::family::accounts, key_of(token));
  return db_.commit(std::move(t));
}

}  // namespace dm2::node::access
