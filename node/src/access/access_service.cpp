#include "access_service.hpp"

#include <chrono>

namespace dm2::node::access {

access_service::access_service(storage::database& db, access_settings settings,
                               assertion_verifier::key_lookup site_keys, wall_clock now)
    : settings_(settings),
      now_(std::move(now)),
      hasher_(settings.argon2),
      accounts_(db),
      sessions_(db),
      teams_(db),
      grants_(db),
      limiter_(settings.signin),
      authenticator_(std::make_unique<password_authenticator>(accounts_, hasher_)),
      verifier_(std::move(site_keys), now_) {}

std::int64_t access_service::system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace dm2::node::access
