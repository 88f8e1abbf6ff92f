#include "authenticator.hpp"

namespace dm2::node::access {

result<account> password_authenticator::authenticate(const credentials& c) {
  auto refused = fail(errc::unauthenticated, "wrong user name or password, or the account is disabled");
  auto found = accounts_.by_name(c.name);
  if (!found) return std::move(found).err();
  if (!found->has_value() || (*found)->password_hash.empty()) {
    hasher_.verify_dummy(c.secret);
    return refused;
  }
  // A disabled account still pays for the hash: its answer must not be faster.
  bool match = hasher_.verify((*found)->password_hash, c.secret);
  if (!match || (*found)->disabled) return refused;
  return std::move(**found);
}

}  // namespace dm2::node::access
