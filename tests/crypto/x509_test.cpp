#include "dm2/crypto/x509.hpp"

#include <gtest/gtest.h>

#include <ctime>

#include "dm2/crypto/keys.hpp"

namespace dm2::crypto {
namespace {

key_and_certificate make_ca(const char* name = "Test Consortium") {
  auto ca = create_ca(name, 30);
  EXPECT_TRUE(ca.ok()) << ca.err().to_string();
  return *ca;
}

site_certificate_request site(const char* name) {
  site_certificate_request r;
  r.site_name = name;
  r.dns_names = {"localhost"};
  r.ip_addresses = {"127.0.0.1"};
  r.valid_days = 30;
  return r;
}

TEST(x509, issued_site_certificate_verifies_against_its_ca) {
  auto ca = make_ca();
  auto cert = issue_site_certificate(ca, site("hospital-a"));
  ASSERT_TRUE(cert.ok()) << cert.err().to_string();
  auto verified = verify_site_certificate(cert->certificate_pem, ca.certificate_pem);
  EXPECT_TRUE(verified.ok()) << verified.err().to_string();
  EXPECT_TRUE(check_key_matches_certificate(cert->key_pem, cert->certificate_pem).ok());

  auto info = inspect_certificate(cert->certificate_pem);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->subject_common_name, "hospital-a");
  EXPECT_EQ(info->issuer_common_name, "Test Consortium CA");
  EXPECT_EQ(info->sha256_fingerprint.size(), 64u);
  EXPECT_FALSE(info->is_ca);
  EXPECT_NEAR(static_cast<double>(info->not_after - info->not_before), 30 * 86400 + 3600, 5);
}

TEST(x509, certificate_from_another_ca_is_refused) {
  auto ca = make_ca();
  auto other = make_ca("Other Consortium");
  auto cert = issue_site_certificate(other, site("intruder"));
  ASSERT_TRUE(cert.ok());
  auto verified = verify_site_certificate(cert->certificate_pem, ca.certificate_pem);
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(verified.err().code, errc::permission_denied);
}

TEST(x509, expired_and_not_yet_valid_certificates_are_refused) {
  auto ca = make_ca();
  auto cert = issue_site_certificate(ca, site("hospital-a"));
  ASSERT_TRUE(cert.ok());
  std::int64_t now = std::time(nullptr);
  auto later = verify_site_certificate(cert->certificate_pem, ca.certificate_pem, now + 31 * 86400);
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.err().message.find("expired"), std::string::npos) << later.err().message;
  auto earlier = verify_site_certificate(cert->certificate_pem, ca.certificate_pem, now - 86400);
  EXPECT_FALSE(earlier.ok());
}

TEST(x509, ca_certificate_is_not_a_site_certificate) {
  auto ca = make_ca();
  auto verified = verify_site_certificate(ca.certificate_pem, ca.certificate_pem);
  EXPECT_FALSE(verified.ok());
}

TEST(x509, bad_requests_are_refused) {
  auto ca = make_ca();
  auto bad_name = site("bad/name");
  EXPECT_EQ(issue_site_certificate(ca, bad_name).err().code, errc::invalid_argument);
  auto bad_ip = site("ok");
  bad_ip.ip_addresses = {"999.1.1.1"};
  EXPECT_EQ(issue_site_certificate(ca, bad_ip).err().code, errc::invalid_argument);
  key_and_certificate mismatched{make_ca("Other").key_pem, ca.certificate_pem};
  EXPECT_FALSE(issue_site_certificate(mismatched, site("ok")).ok());
  EXPECT_EQ(inspect_certificate("not a certificate").err().code, errc::malformed_input);
}

TEST(x509, key_of_another_certificate_does_not_match) {
  auto ca = make_ca();
  auto a = issue_site_certificate(ca, site("a"));
  auto b = issue_site_certificate(ca, site("b"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(check_key_matches_certificate(a->key_pem, b->certificate_pem).err().code,
            errc::integrity_failure);
}

TEST(keys, generated_keys_have_their_type_and_raw_public_halves) {
  for (auto type : {key_type::ecdsa_p256, key_type::ed25519, key_type::x25519}) {
    auto key = generate_private_key(type);
    ASSERT_TRUE(key.ok());
    EXPECT_EQ(*private_key_type(*key), type);
    EXPECT_TRUE(public_key_pem(*key).ok());
  }
  auto ed = generate_private_key(key_type::ed25519);
  auto raw = raw_public_key(*ed);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->size(), 32u);
  EXPECT_EQ(raw_public_key(*generate_private_key(key_type::ecdsa_p256)).err().code,
            errc::unsupported);
}

}  // namespace
}  // namespace dm2::crypto
