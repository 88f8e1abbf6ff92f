// The access layer of a running node (node/src/access/): accounts, sign-in sessions and their
// rate limit, care teams, grants, and the verifier of other sites' assertions, over the node's
// database. The node owns one; routes reach its parts through route_context. Decisions are
// policy.hpp's alone. Thread-safe (every part is).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "account_store.hpp"
#include "assertion.hpp"
#include "authenticator.hpp"
#include "care_teams.hpp"
#include "grants.hpp"
#include "password_hasher.hpp"
#include "session_store.hpp"
#include "signin_limiter.hpp"

namespace dm2::node::access {

struct access_settings {
  argon2_parameters argon2;           // [accounts] argon2_memory_kib, argon2_passes
  signin_limits signin;               // [accounts] signin_failures_per_account, _per_address, signin_window_s
  std::int64_t session_ttl_s = 1800;  // [accounts] session_ttl_s: tokens live 30 minutes
};

class access_service {
 public:
  using wall_clock = std::function<std::int64_t()>;  // Unix milliseconds

  // `db` outlives the service. `site_keys` finds a roster member's DHT key (assertions).
  access_service(storage::database& db, access_settings settings, assertion_verifier::key_lookup site_keys,
                 wall_clock now = system_now_ms);

  account_store& accounts() { return accounts_; }
  session_store& sessions() { return sessions_; }
  care_teams& teams() { return teams_; }
  grant_store& grants() { return grants_; }
  signin_limiter& limiter() { return limiter_; }
  authenticator& signin() { return *authenticator_; }
  const password_hasher& hasher() const { return hasher_; }
  assertion_verifier& assertions() { return verifier_; }
  const access_settings& settings() const { return settings_; }
  std::int64_t now_ms() const { return now_(); }
  std::int64_t now_s() const { return now_() / 1000; }

  static std::int64_t system_now_ms();

 private:
  access_settings settings_;
  wall_clock now_;
  password_hasher hasher_;
  account_store accounts_;
  session_store sessions_;
  care_teams teams_;
  grant_store grants_;
  signin_limiter limiter_;
  std::unique_ptr<authenticator> authenticator_;
  assertion_verifier verifier_;
};

}  // namespace dm2::node::access
