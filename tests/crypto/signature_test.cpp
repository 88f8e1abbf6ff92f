#include "dm2/crypto/signature.hpp"

#include <gtest/gtest.h>

#include "dm2/crypto/keys.hpp"

namespace dm2::crypto {
namespace {

struct ed25519_pair {
  std::string private_pem;
  std::string public_raw;
};

ed25519_pair new_pair() {
  auto pem = generate_private_key(key_type::ed25519);
  EXPECT_TRUE(pem.ok());
  auto raw = raw_public_key(*pem);
  EXPECT_TRUE(raw.ok());
  return {*pem, *raw};
}

TEST(signature, round_trip) {
  auto k = new_pair();
  auto sig = sign(k.private_pem, "roster v7");
  ASSERT_TRUE(sig.ok()) << sig.err().to_string();
  EXPECT_EQ(sig->size(), ed25519_signature_size);
  EXPECT_TRUE(verify(k.public_raw, "roster v7", *sig).ok());
  // Ed25519 is deterministic: the same key and message give the same signature.
  EXPECT_EQ(*sig, *sign(k.private_pem, "roster v7"));
  auto empty = sign(k.private_pem, "");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(verify(k.public_raw, "", *empty).ok());
}

TEST(signature, every_flipped_bit_in_message_or_signature_is_refused) {
  auto k = new_pair();
  const std::string message = "audit entry 42|prev=abcdef";
  auto sig = *sign(k.private_pem, message);
  for (size_t byte = 0; byte < message.size(); ++byte)
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = message;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      auto r = verify(k.public_raw, bad, sig);
      ASSERT_FALSE(r.ok()) << "message byte " << byte << " bit " << bit;
      EXPECT_EQ(r.err().code, errc::integrity_failure);
    }
  for (size_t byte = 0; byte < sig.size(); ++byte)
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = sig;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      auto r = verify(k.public_raw, message, bad);
      ASSERT_FALSE(r.ok()) << "signature byte " << byte << " bit " << bit;
      EXPECT_EQ(r.err().code, errc::integrity_failure);
    }
}

TEST(signature, wrong_key_and_bad_sizes_are_refused) {
  auto k = new_pair();
  auto other = new_pair();
  auto sig = *sign(k.private_pem, "m");
  EXPECT_EQ(verify(other.public_raw, "m", sig).err().code, errc::integrity_failure);
  EXPECT_EQ(verify(k.public_raw, "m", sig.substr(0, 63)).err().code, errc::integrity_failure);
  EXPECT_EQ(verify(k.public_raw, "m", sig + "x").err().code, errc::integrity_failure);
  EXPECT_EQ(verify(k.public_raw.substr(1), "m", sig).err().code, errc::invalid_argument);
}

TEST(signature, non_ed25519_keys_cannot_sign) {
  auto x = *generate_private_key(key_type::x25519);
  EXPECT_EQ(sign(x, "m").err().code, errc::unsupported);
  auto p256 = *generate_private_key(key_type::ecdsa_p256);
  EXPECT_EQ(sign(p256, "m").err().code, errc::unsupported);
  EXPECT_EQ(sign("not a key", "m").err().code, errc::malformed_input);
}

TEST(signature, a_parsed_key_signs_as_the_pem_does_and_copies_share_it) {
  auto k = new_pair();
  auto key = signing_key::from_pem(k.private_pem);
  ASSERT_TRUE(key.ok()) << key.err().to_string();
  auto sig = key->sign("audit entry 7");
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(*sig, *sign(k.private_pem, "audit entry 7"));
  EXPECT_TRUE(verify(k.public_raw, "audit entry 7", *sig).ok());
  signing_key copy = *key;
  EXPECT_EQ(*copy.sign("m"), *key->sign("m"));
  EXPECT_EQ(signing_key::from_pem("not a key").err().code, errc::malformed_input);
  EXPECT_EQ(signing_key::from_pem(*generate_private_key(key_type::x25519)).err().code, errc::unsupported);
}

}  // namespace
}  // namespace dm2::crypto
