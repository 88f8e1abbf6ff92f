// Cross-site grants as their owner signs them: a real Ed25519 key per site. The grant comes back
// as signed; a forged, tampered, non-canonical, over-long or out-of-limits one is refused, and
// so is one signed by a site off the roster.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "access/signed_grant.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "site_keys.hpp"

namespace dm2::node::access {
namespace {

class signed_grant_test : public ::testing::Test {
 protected:
  std::map<std::string, site_keys> sites{{"site-1", make_keys()}, {"site-2", make_keys()}};
  std::function<result<std::string>(std::string_view)> key_of = [this](std::string_view id) -> result<std::string> {
    auto it = sites.find(std::string(id));
    if (it == sites.end()) return fail(errc::permission_denied, "not a member");
    return it->second.raw;
  };

  static grant sample() {
    grant g;
    g.id = std::string(32, '1');
    g.grantor = std::string(32, '2');
    g.grantee = std::string(32, '3');
    g.grantee_site = "site-2";
    g.lfns = {std::string(32, 'a'), std::string(32, 'b')};
    g.classes = {data_class::deidentified_image, data_class::key_share};
    g.why = purpose::research;
    g.expires_at = 1'800'000'000;
    return g;
  }

  std::string refusal(std::string_view wire) {
    auto v = verify_grant(wire, key_of);
    if (v) return "accepted";
    EXPECT_EQ(v.err().code, errc::permission_denied);
    return v.err().message;
  }
};

TEST_F(signed_grant_test, round_trips_every_field) {
  auto wire = sign_grant(sample(), "site-1", sites.at("site-1").pem);
  ASSERT_TRUE(wire) << wire.err().message;
  auto v = verify_grant(*wire, key_of);
  ASSERT_TRUE(v) << v.err().message;
  EXPECT_EQ(v->site, "site-1");
  auto want = sample();
  EXPECT_EQ(v->g.id, want.id);
  EXPECT_EQ(v->g.grantor, want.grantor);
  EXPECT_EQ(v->g.grantee, want.grantee);
  EXPECT_EQ(v->g.grantee_site, want.grantee_site);
  EXPECT_EQ(v->g.lfns, want.lfns);
  EXPECT_EQ(v->g.classes, want.classes);
  EXPECT_EQ(v->g.why, want.why);
  EXPECT_EQ(v->g.expires_at, want.expires_at);
}

TEST_F(signed_grant_test, forged_tampered_and_foreign_grants_are_refused) {
  auto g = sample();
  EXPECT_EQ(refusal(*sign_grant(g, "site-1", sites.at("site-2").pem)), "forged");  // site 2 claims site 1's name
  EXPECT_EQ(refusal(*sign_grant(g, "site-3", make_keys().pem)), "not_a_member");
  auto wire = *sign_grant(g, "site-1", sites.at("site-1").pem);
  auto dot = wire.find('.');
  auto body = nlohmann::json::parse(*crypto::from_base64(wire.substr(0, dot)));
  body["grantee"] = std::string(32, '4');  // another user, the old signature
  EXPECT_EQ(refusal(crypto::to_base64(body.dump()) + wire.substr(dot)), "forged");
  body = nlohmann::json::parse(*crypto::from_base64(wire.substr(0, dot)));
  EXPECT_EQ(refusal(crypto::to_base64(body.dump(1)) + wire.substr(dot)), "malformed");  // not canonical
  body["extra"] = 1;
  EXPECT_EQ(refusal(crypto::to_base64(body.dump()) + wire.substr(dot)), "malformed");
  EXPECT_EQ(refusal("no dot"), "malformed");
  EXPECT_EQ(refusal(std::string(max_signed_grant_bytes + 1, 'A') + ".AA"), "malformed");
}

TEST_F(signed_grant_test, out_of_limits_grants_are_not_signed) {
  auto key = sites.at("site-1").pem;
  auto g = sample();
  g.grantee_site = "site-1";  // to its own site: a local grant, never signed
  EXPECT_FALSE(sign_grant(g, "site-1", key));
  g = sample();
  g.classes = {data_class::nominative};
  EXPECT_FALSE(sign_grant(g, "site-1", key));
  g = sample();
  g.lfns.assign(max_grant_lfns + 1, std::string(32, 'c'));
  EXPECT_FALSE(sign_grant(g, "site-1", key));
  g = sample();
  g.id.clear();
  EXPECT_FALSE(sign_grant(g, "site-1", key));
  g = sample();
  g.grantee = "not-a-pseudonym";
  EXPECT_FALSE(sign_grant(g, "site-1", key));
  // The largest grant there may be still fits the wire's bound.
  g = sample();
  g.lfns.assign(max_grant_lfns, std::string(32, 'c'));
  g.classes = {data_class::index_attributes, data_class::diagnoses, data_class::deidentified_image, data_class::key_share};
  auto wire = sign_grant(g, std::string(64, 's'), key);
  ASSERT_TRUE(wire) << wire.err().message;
  EXPECT_LE(wire->size(), max_signed_grant_bytes);
}

}  // namespace
}  // namespace dm2::node::access
