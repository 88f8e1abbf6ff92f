// How a person proves who he is to his home site. Today: a local password (Argon2id). The seam
// for a hospital identity provider: an OpenID Connect authenticator would take the ID token
// from the hospital's provider (authorization-code flow with PKCE), verify its signature
// against the provider's published keys, its issuer, audience, expiry and nonce, and map its
// subject to a local account (role, care teams and grants stay here); sessions, the policy and
// assertions do not change. docs/security.md, "OpenID Connect".
#pragma once

#include <string>

#include "account_store.hpp"
#include "dm2/result.hpp"
#include "password_hasher.hpp"

namespace dm2::node::access {

struct credentials {
  std::string name;
  std::string secret;  // the password (OIDC: the ID token)
};

class authenticator {
 public:
  virtual ~authenticator() = default;
  // The account these credentials prove. Errors: unauthenticated (one message for an unknown
  // name, a wrong secret and a disabled account: the caller learns nothing more), and the
  // store's storage errors.
  virtual result<account> authenticate(const credentials& c) = 0;
};

// Name and password against the account store. An unknown name is checked against a dummy hash,
// so it costs the same time as a wrong password. Thread-safe.
class password_authenticator final : public authenticator {
 public:
  password_authenticator(const account_store& accounts, const password_hasher& hasher)
      : accounts_(accounts), hasher_(hasher) {}
  result<account> authenticate(const credentials& c) override;

 private:
  const account_store& accounts_;
  const password_hasher& hasher_;
};

}  // namespace dm2::node::access
