#include "dm2/crypto/consortium_admin.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/crypto/signature.hpp"
#include "support/temp_dir.hpp"

namespace dm2::crypto {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t now = 1'800'000'000;

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

class consortium_admin_test : public ::testing::Test {
 protected:
  dm2::test::temp_dir dir;
  fs::path ca = dir.path() / "ca";
  fs::path roster_file = dir.path() / "roster.json";

  void SetUp() override { ASSERT_TRUE(init_consortium(ca, "Test Consortium").ok()); }

  fs::path issue(const std::string& name) {
    site_certificate_request req;
    req.site_name = name;
    req.ip_addresses = {"127.0.0.1"};
    auto out = dir.path() / name;
    auto r = issue_site(ca, req, out);
    EXPECT_TRUE(r.ok()) << r.err().to_string();
    return out;
  }

  roster_entry_request entry(const fs::path& site_dir) {
    roster_entry_request req;
    req.site_dir = site_dir;
    req.https_endpoint = "127.0.0.1:8443";
    req.dht_endpoint = "127.0.0.1:6881";
    return req;
  }
};

TEST_F(consortium_admin_test, init_writes_keys_0600_and_never_replaces_them) {
  EXPECT_EQ(mode_of(ca / "ca.key"), 0600u);
  EXPECT_EQ(mode_of(ca / "consortium.key"), 0600u);
  EXPECT_EQ(mode_of(ca), 0700u);
  auto pub = read_consortium_public_key(ca);
  ASSERT_TRUE(pub.ok()) << pub.err().to_string();
  EXPECT_EQ(*pub, *raw_public_key(*read_private_file(ca / "consortium.key")));
  auto before = *read_file(ca / "ca.key");
  EXPECT_EQ(init_consortium(ca, "Test Consortium").err().code, errc::conflict);
  EXPECT_EQ(*read_file(ca / "ca.key"), before);
  EXPECT_EQ(init_consortium(dir.path() / "x", "bad/name").err().code, errc::invalid_argument);
}

TEST_F(consortium_admin_test, issue_site_writes_a_complete_identity) {
  auto site = issue("Site-A");
  for (const char* k : {"site.key", "dht.key", "seal.key"}) EXPECT_EQ(mode_of(site / k), 0600u) << k;
  auto cert = *read_file(site / "site.crt");
  EXPECT_TRUE(verify_site_certificate(cert, *read_file(ca / "ca.crt")).ok());
  EXPECT_TRUE(check_key_matches_certificate(*read_private_file(site / "site.key"), cert).ok());
  EXPECT_EQ(*private_key_type(*read_private_file(site / "dht.key")), key_type::ed25519);
  EXPECT_EQ(*private_key_type(*read_private_file(site / "seal.key")), key_type::x25519);
  site_certificate_request again;
  again.site_name = "Site-A";
  EXPECT_EQ(issue_site(ca, again, site).err().code, errc::conflict);
  ::chmod((ca / "ca.key").c_str(), 0644);
  EXPECT_EQ(issue_site(ca, again, dir.path() / "other").err().code, errc::insecure_file);
}

TEST_F(consortium_admin_test, roster_add_sign_remove_and_accept) {
  auto a = issue("Site-A"), b = issue("Site-B");
  auto added = roster_add(roster_file, entry(a));
  ASSERT_TRUE(added.ok()) << added.err().to_string();
  EXPECT_EQ(added->site_id, "site-a");
  EXPECT_EQ(added->name, "Site-A");
  ASSERT_TRUE(roster_add(roster_file, entry(b)).ok());
  EXPECT_EQ(roster_add(roster_file, entry(b)).err().code, errc::conflict);
  auto other_id = entry(b);
  other_id.site_id = "b2";
  EXPECT_EQ(roster_add(roster_file, other_id).err().code, errc::conflict);  // same certificate

  auto draft = load_roster_file(roster_file);
  ASSERT_TRUE(draft.ok());
  EXPECT_EQ(draft->body.consortium, "Test Consortium");
  EXPECT_TRUE(draft->signature.empty());

  auto signed1 = roster_sign(roster_file, ca, now);
  ASSERT_TRUE(signed1.ok()) << signed1.err().to_string();
  EXPECT_EQ(signed1->version, 1u);
  roster_state state(*read_consortium_public_key(ca));
  ASSERT_TRUE(state.accept(*read_file(roster_file)).ok());
  auto b_dht = *read_private_file(b / "dht.key");
  auto sig = *sign(b_dht, "hello");
  auto b_entry = *state.find_by_id("site-b", now);
  EXPECT_TRUE(state.verify_member_signature(b_entry.dht_public_key, "hello", sig, now).ok());
  auto b_fingerprint = inspect_certificate(*read_file(b / "site.crt"))->sha256_fingerprint;
  EXPECT_EQ(state.find_by_fingerprint(b_fingerprint, now)->site_id, "site-b");

  ASSERT_TRUE(roster_remove(roster_file, "site-b").ok());
  EXPECT_EQ(roster_remove(roster_file, "site-b").err().code, errc::not_found);
  EXPECT_EQ(state.accept(*read_file(roster_file)).err().code, errc::integrity_failure);  // a draft
  ASSERT_EQ(roster_sign(roster_file, ca, now + 1)->version, 2u);
  ASSERT_TRUE(state.accept(*read_file(roster_file)).ok());
  EXPECT_EQ(state.verify_member_signature(b_entry.dht_public_key, "hello", sig, now).err().code,
            errc::permission_denied);
  auto text = describe_roster(*state.current(), true, now);
  EXPECT_NE(text.find("site-a"), std::string::npos);
  EXPECT_EQ(text.find("site-b"), std::string::npos);
}

TEST_F(consortium_admin_test, bad_files_give_clear_errors) {
  EXPECT_EQ(load_roster_file(roster_file).err().code, errc::not_found);
  ASSERT_TRUE(write_public_file(roster_file, "{not json").ok());
  EXPECT_EQ(load_roster_file(roster_file).err().code, errc::malformed_input);
  EXPECT_EQ(roster_remove(roster_file, "x").err().code, errc::malformed_input);
  auto a = issue("Site-A");
  EXPECT_EQ(roster_add(roster_file, entry(a)).err().code, errc::malformed_input);
  ASSERT_TRUE(write_public_file(a / "dht.pub", "zz\n").ok());
  fs::remove(roster_file);
  EXPECT_EQ(roster_add(roster_file, entry(a)).err().code, errc::malformed_input);
  EXPECT_FALSE(fs::exists(roster_file));
  auto bad_endpoint = entry(issue("Site-B"));
  bad_endpoint.https_endpoint = "nowhere";
  EXPECT_EQ(roster_add(roster_file, bad_endpoint).err().code, errc::invalid_argument);
  // A roster for another consortium is not signed by this CA.
  auto c = issue("Site-C");
  ASSERT_TRUE(roster_add(roster_file, entry(c), "Other").ok());
  EXPECT_EQ(roster_sign(roster_file, ca, now).err().code, errc::invalid_argument);
}

}  // namespace
}  // namespace dm2::crypto
