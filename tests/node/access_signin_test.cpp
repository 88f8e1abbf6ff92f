// Sign-in answers alike for a bad name, a bad password and a disabled account, and does the same
// work for each: one Argon2id verification with the same parameters (the dummy hash for an
// unknown name). Asserted by counting the hasher's verifications, not by timing.
#include <gtest/gtest.h>

#include "access/authenticator.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "support/temp_dir.hpp"

namespace dm2::node::access {
namespace {

// The PHC parameters of an Argon2id hash: "$argon2id$v=19$m=1024,t=1,p=1".
std::string parameters_of(const std::string& phc) { return phc.substr(0, phc.rfind('$', phc.rfind('$') - 1)); }

class signin_test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto signer = storage::ed25519_audit_signer(*crypto::generate_private_key(crypto::key_type::ed25519));
    ASSERT_TRUE(signer);
    auto opened = storage::database::open(dir.path() / "db", crypto::random_bytes(32), {}, *signer);
    ASSERT_TRUE(opened) << opened.err().message;
    db = std::move(*opened);
    accounts = std::make_unique<account_store>(*db);
    for (auto [name, disabled] : {std::pair{"dr-a", false}, std::pair{"dr-off", true}}) {
      account a;
      a.name = name;
      a.who = role::physician;
      a.password_hash = *hasher.hash(std::string(name) + "-password");
      ASSERT_TRUE(accounts->create(a, {0, "site:test", "user_created", "", "allowed", ""}));
      if (disabled) {
        ASSERT_TRUE(accounts->set_disabled(name, true, {0, "site:test", "user_disabled", "", "allowed", ""}));
      }
    }
  }

  test::temp_dir dir{"dm2-signin"};
  password_hasher hasher{{1024, 1, 1}};
  std::unique_ptr<storage::database> db;
  std::unique_ptr<account_store> accounts;
};

TEST_F(signin_test, bad_name_bad_password_and_disabled_account_cost_one_verification_and_answer_alike) {
  EXPECT_EQ(parameters_of(hasher.dummy_hash()), parameters_of(*hasher.hash("any-password")));
  password_authenticator signin(*accounts, hasher);
  std::vector<std::string> messages;
  for (credentials c : {credentials{"nobody", "dr-a-password"}, credentials{"dr-a", "wrong-password"},
                        credentials{"dr-off", "dr-off-password"}}) {
    auto before = hasher.verifications();
    auto r = signin.authenticate(c);
    EXPECT_EQ(hasher.verifications() - before, 1u) << c.name;
    ASSERT_FALSE(r) << c.name;
    EXPECT_EQ(r.err().code, errc::unauthenticated);
    messages.push_back(r.err().message);
  }
  EXPECT_EQ(messages[0], messages[1]);
  EXPECT_EQ(messages[1], messages[2]);
  auto before = hasher.verifications();
  EXPECT_TRUE(signin.authenticate({"dr-a", "dr-a-password"}));
  EXPECT_EQ(hasher.verifications() - before, 1u);
}

}  // namespace
}  // namespace dm2::node::access
