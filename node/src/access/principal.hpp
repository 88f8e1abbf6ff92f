// Who is behind a request, once authenticated (route_context::authenticate): a user of this
// site (session token or cookie), a user of another site (its signed assertion, presented by
// that site over mutual TLS), this site's operator (its own certificate: a site admin), or a
// peer site with no user behind it.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "assertion.hpp"
#include "policy.hpp"

namespace dm2::node::access {

struct principal {
  role who = role::site;
  std::string id;           // user pseudonym, or site id (role site and the operator)
  std::string home_site;    // the user's (or site's) own site id; "" before this site is on a roster
  bool person = false;      // a user (local or asserted), not a certificate alone
  std::string patient_ref;  // patients signed in at home: their nominative record's reference
  std::optional<assertion> asserted;  // a user of another site: what his site signed

  // For audit entries: "user:<pseudonym>" here, "user:<pseudonym>@<site>" from another site,
  // "site:<id>" (operator and peers).
  std::string actor() const {
    if (!person) return "site:" + id;
    return asserted ? "user:" + id + "@" + home_site : "user:" + id;
  }
};

// The session token a request carries: "Authorization: Bearer <token>", else the dm2_session
// cookie; "" if none. Headers are lower-case (http_request).
std::string session_token_of(const std::map<std::string, std::string>& headers);

}  // namespace dm2::node::access
