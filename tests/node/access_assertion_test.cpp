// Signed assertions between sites: a real Ed25519 key per site, the verifier with an injected
// clock. Forged, tampered, replayed, expired, stale, wrong-site and over-scoped assertions fail.
#include <gtest/gtest.h>

#include <map>

#include "access/assertion.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "site_keys.hpp"

namespace dm2::node::access {
namespace {

class assertion_test : public ::testing::Test {
 protected:
  std::map<std::string, site_keys> sites{{"site-1", make_keys()}, {"site-2", make_keys()}};
  std::int64_t now = 1'800'000'000'000;
  assertion_verifier verifier{[this](std::string_view id) -> result<std::string> {
                                auto it = sites.find(std::string(id));
                                if (it == sites.end()) return fail(errc::permission_denied, "not a member");
                                return it->second.raw;
                              },
                              [this] { return now; }};
  std::string lfn = std::string(32, 'a');

  assertion researcher() {
    assertion a;
    a.site = "site-1";
    a.user = std::string(32, 'e');
    a.who = role::researcher;
    a.why = purpose::research;
    a.grant = "g1";
    a.lfns = {lfn};
    a.classes = {data_class::index_attributes};
    return a;
  }

  std::string signed_by(const std::string& site, assertion a, std::int64_t lifetime = 60'000) {
    auto wire = sign_assertion(std::move(a), sites.at(site).pem, now, lifetime);
    EXPECT_TRUE(wire) << wire.err().message;
    return wire ? *wire : "";
  }

  std::string refusal(std::string_view peer, const std::string& wire) {
    auto r = verifier.verify(peer, wire);
    if (r) return "accepted";
    EXPECT_EQ(r.err().code, errc::permission_denied);
    return r.err().message;
  }
};

TEST_F(assertion_test, a_signed_assertion_verifies_once_and_says_who_asks_for_what) {
  auto wire = signed_by("site-1", researcher());
  auto a = verifier.verify("site-1", wire);
  ASSERT_TRUE(a) << a.err().message;
  EXPECT_EQ(a->user, std::string(32, 'e'));
  EXPECT_EQ(a->who, role::researcher);
  EXPECT_EQ(a->why, purpose::research);
  EXPECT_EQ(a->grant, "g1");
  EXPECT_TRUE(a->covers(lfn, data_class::index_attributes));
  EXPECT_FALSE(a->covers(lfn, data_class::deidentified_image));     // over-scoped: another class
  EXPECT_FALSE(a->covers(std::string(32, 'b'), data_class::index_attributes));  // another LFN
  EXPECT_EQ(refusal("site-1", wire), "replayed");
}

TEST_F(assertion_test, forged_and_tampered_assertions_are_refused) {
  auto a = researcher();
  EXPECT_EQ(refusal("site-1", signed_by("site-2", a)), "forged");  // site-2's key, claims site-1
  auto wire = signed_by("site-1", a);
  auto dot = wire.find('.');
  auto body = *crypto::from_base64(wire.substr(0, dot));
  auto widened = body;
  widened.replace(widened.find("researcher"), 10, "physician\"");  // any changed byte
  auto changed = crypto::to_base64(body.replace(body.find("g1"), 2, "g2")) + wire.substr(dot);
  EXPECT_EQ(refusal("site-1", changed), "forged");
  EXPECT_EQ(refusal("site-1", crypto::to_base64(widened) + wire.substr(dot)), "malformed");
  EXPECT_EQ(refusal("site-1", "not an assertion"), "malformed");
  EXPECT_EQ(refusal("site-1", wire.substr(0, dot)), "malformed");
  EXPECT_EQ(refusal("site-1", std::string(max_assertion_bytes + 1, 'A')), "malformed");
  EXPECT_EQ(refusal("site-1", wire), "accepted");  // the genuine one still works
}

TEST_F(assertion_test, an_assertion_presented_by_another_site_is_refused) {
  EXPECT_EQ(refusal("site-2", signed_by("site-1", researcher())), "wrong_site");
}

TEST_F(assertion_test, a_site_off_the_roster_cannot_assert) {
  auto wire = signed_by("site-1", researcher());
  sites.erase("site-1");
  EXPECT_EQ(refusal("site-1", wire), "not_a_member");
}

TEST_F(assertion_test, expired_stale_and_future_assertions_are_refused) {
  auto short_lived = signed_by("site-1", researcher(), 1000);
  auto from_future = signed_by("site-1", researcher());
  now += 1000;
  EXPECT_EQ(refusal("site-1", short_lived), "expired");
  now -= 1000 + assertion_verifier::default_settings().max_skew_ms + 1;
  EXPECT_EQ(refusal("site-1", from_future), "from_the_future");
}

TEST_F(assertion_test, signing_refuses_what_no_site_would_accept) {
  auto a = researcher();
  a.who = role::site_admin;
  EXPECT_FALSE(sign_assertion(a, sites.at("site-1").pem, now));
  a = researcher();
  a.user = "alice";  // a name is not a pseudonym
  EXPECT_FALSE(sign_assertion(a, sites.at("site-1").pem, now));
  EXPECT_FALSE(sign_assertion(researcher(), sites.at("site-1").pem, now, max_assertion_lifetime_ms + 1));
  a = researcher();
  a.lfns.assign(max_assertion_lfns + 1, lfn);
  EXPECT_FALSE(sign_assertion(a, sites.at("site-1").pem, now));
  a = researcher();
  a.basis = "friend_of_the_family";  // only care_team and own_record are vouched for
  EXPECT_FALSE(sign_assertion(a, sites.at("site-1").pem, now));
  a.nonce = "reused";  // a caller's nonce is still 32 hex digits
  a.basis.clear();
  EXPECT_FALSE(sign_assertion(a, sites.at("site-1").pem, now));
}

TEST_F(assertion_test, a_vouched_basis_and_a_chosen_nonce_travel_signed) {
  auto a = researcher();
  a.who = role::physician;
  a.basis = basis_care_team;
  a.nonce = std::string(32, '5');
  auto wire = signed_by("site-1", a);
  auto got = verifier.verify("site-1", wire);
  ASSERT_TRUE(got) << got.err().message;
  EXPECT_EQ(got->basis, basis_care_team);
  EXPECT_EQ(got->nonce, a.nonce);
  // Claiming a care team the home site did not sign for is a forgery.
  auto dot = wire.find('.');
  auto body = *crypto::from_base64(wire.substr(0, dot));
  auto claimed = signed_by("site-1", researcher());
  auto plain = *crypto::from_base64(claimed.substr(0, claimed.find('.')));
  plain.replace(plain.find("\"basis\":\"\""), 10, "\"basis\":\"own_record\"");
  EXPECT_EQ(refusal("site-1", crypto::to_base64(plain) + claimed.substr(claimed.find('.'))), "forged");
  EXPECT_NE(body.find("\"basis\":\"care_team\""), std::string::npos);
}

}  // namespace
}  // namespace dm2::node::access
