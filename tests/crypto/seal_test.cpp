#include "dm2/crypto/seal.hpp"

#include <gtest/gtest.h>

#include "dm2/crypto/keys.hpp"

namespace dm2::crypto {
namespace {

struct x25519_pair {
  std::string private_pem;
  std::string public_raw;
};

x25519_pair new_pair() {
  auto pem = *generate_private_key(key_type::x25519);
  return {pem, *raw_public_key(pem)};
}

TEST(seal, round_trip) {
  auto node = new_pair();
  auto sealed = seal(node.public_raw, "share #2 of series key", "key=abc|holder=site-b");
  ASSERT_TRUE(sealed.ok()) << sealed.err().to_string();
  EXPECT_EQ(sealed->size(), std::string("share #2 of series key").size() + seal_overhead);
  auto opened = open_sealed(node.private_pem, *sealed, "key=abc|holder=site-b");
  ASSERT_TRUE(opened.ok()) << opened.err().to_string();
  EXPECT_EQ(*opened, "share #2 of series key");
  auto empty = seal(node.public_raw, "", "");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*open_sealed(node.private_pem, *empty, ""), "");
}

TEST(seal, every_flipped_bit_is_refused) {
  auto node = new_pair();
  auto sealed = *seal(node.public_raw, "secret", "ad");
  for (size_t byte = 0; byte < sealed.size(); ++byte)
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = sealed;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      auto r = open_sealed(node.private_pem, bad, "ad");
      ASSERT_FALSE(r.ok()) << "byte " << byte << " bit " << bit;
      EXPECT_EQ(r.err().code, errc::integrity_failure);
    }
}

TEST(seal, wrong_recipient_ad_or_truncation_is_refused) {
  auto node = new_pair();
  auto other = new_pair();
  auto sealed = *seal(node.public_raw, "secret", "ad");
  EXPECT_EQ(open_sealed(other.private_pem, sealed, "ad").err().code, errc::integrity_failure);
  EXPECT_EQ(open_sealed(node.private_pem, sealed, "ae").err().code, errc::integrity_failure);
  EXPECT_EQ(open_sealed(node.private_pem, sealed.substr(0, seal_overhead - 1), "ad").err().code,
            errc::integrity_failure);
  EXPECT_EQ(open_sealed(node.private_pem, sealed + "x", "ad").err().code, errc::integrity_failure);
}

TEST(seal, each_seal_uses_a_fresh_ephemeral_key) {
  auto node = new_pair();
  auto a = *seal(node.public_raw, "same", "");
  auto b = *seal(node.public_raw, "same", "");
  EXPECT_NE(a.substr(0, 32), b.substr(0, 32));
}

TEST(seal, bad_keys_are_refused) {
  auto node = new_pair();
  EXPECT_EQ(seal("short", "x", "").err().code, errc::invalid_argument);
  // The all-zero point has low order: the shared secret would be zero.
  EXPECT_EQ(seal(std::string(32, '\0'), "x", "").err().code, errc::invalid_argument);
  auto ed = *generate_private_key(key_type::ed25519);
  auto sealed = *seal(node.public_raw, "x", "");
  EXPECT_EQ(open_sealed(ed, sealed, "").err().code, errc::unsupported);
  EXPECT_EQ(open_sealed("garbage", sealed, "").err().code, errc::malformed_input);
  // A box whose ephemeral key was replaced by a low-order point.
  auto forged = std::string(32, '\0') + sealed.substr(32);
  EXPECT_EQ(open_sealed(node.private_pem, forged, "").err().code, errc::integrity_failure);
}

}  // namespace
}  // namespace dm2::crypto
