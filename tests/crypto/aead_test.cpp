#include "dm2/crypto/aead.hpp"

#include <gtest/gtest.h>

#include "dm2/crypto/hash.hpp"

namespace dm2::crypto {
namespace {

TEST(aead, round_trip_with_associated_data) {
  auto key = generate_aead_key();
  auto sealed = aead_seal(key, "index record", "lfn=1|v=3|class=index");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), std::string("index record").size() + aead_overhead);
  auto opened = aead_open(key, *sealed, "lfn=1|v=3|class=index");
  ASSERT_TRUE(opened.ok()) << opened.err().to_string();
  EXPECT_EQ(*opened, "index record");
}

// 40 MiB: above glibc's mmap threshold, where the output's pages are advised and populated.
TEST(aead, a_large_fresh_buffer_round_trips) {
  auto key = generate_aead_key();
  std::string plain = random_bytes(40 << 20);
  plain.append("tail", 4);  // not a page multiple
  auto sealed = aead_seal(key, plain, "large");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), plain.size() + aead_overhead);
  auto opened = aead_open(key, *sealed, "large");
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(*opened == plain);
}

TEST(aead, every_flipped_bit_is_detected) {
  auto key = generate_aead_key();
  auto sealed = *aead_seal(key, "payload", "ad");
  for (size_t byte = 0; byte < sealed.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = sealed;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      auto r = aead_open(key, bad, "ad");
      ASSERT_FALSE(r.ok()) << "byte " << byte << " bit " << bit;
      EXPECT_EQ(r.err().code, errc::integrity_failure);
    }
  }
}

TEST(aead, wrong_key_wrong_ad_and_truncation_are_refused) {
  auto key = generate_aead_key();
  auto sealed = *aead_seal(key, "payload", "ad");
  EXPECT_EQ(aead_open(generate_aead_key(), sealed, "ad").err().code, errc::integrity_failure);
  EXPECT_EQ(aead_open(key, sealed, "ad2").err().code, errc::integrity_failure);
  EXPECT_EQ(aead_open(key, sealed.substr(0, sealed.size() - 1), "ad").err().code,
            errc::integrity_failure);
  EXPECT_EQ(aead_open(key, "short", "ad").err().code, errc::integrity_failure);
  EXPECT_EQ(aead_seal("short key", "x", "").err().code, errc::invalid_argument);
}

TEST(aead, nonces_are_fresh) {
  auto key = generate_aead_key();
  EXPECT_NE(*aead_seal(key, "same", ""), *aead_seal(key, "same", ""));
}

TEST(aead, into_variants_reuse_the_buffer_and_clear_it_on_failure) {
  auto key = generate_aead_key();
  std::string sealed, opened;
  ASSERT_TRUE(aead_seal_into(key, std::string(1000, 'a'), "ad", sealed).ok());
  const char* storage = sealed.data();
  ASSERT_TRUE(aead_seal_into(key, std::string(900, 'b'), "ad", sealed).ok());
  EXPECT_EQ(sealed.data(), storage);  // capacity kept: no reallocation
  ASSERT_TRUE(aead_open_into(key, sealed, "ad", opened).ok());
  EXPECT_EQ(opened, std::string(900, 'b'));
  EXPECT_EQ(*aead_open(key, sealed, "ad"), opened);
  sealed[20] ^= 1;
  auto r = aead_open_into(key, sealed, "ad", opened);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::integrity_failure);
  EXPECT_TRUE(opened.empty());
}

TEST(hash, known_answers) {
  EXPECT_EQ(to_hex(sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 5869 test case 3 (empty salt and info).
  auto okm = hkdf_sha256(std::string(22, '\x0b'), "", "", 42);
  ASSERT_TRUE(okm.ok());
  EXPECT_EQ(to_hex(*okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8");
  EXPECT_EQ(*from_hex("00ff10"), std::string("\x00\xff\x10", 3));
  EXPECT_FALSE(from_hex("0g").ok());
  EXPECT_FALSE(from_hex("abc").ok());
  EXPECT_TRUE(equal_constant_time("abc", "abc"));
  EXPECT_FALSE(equal_constant_time("abc", "abd"));
  EXPECT_FALSE(equal_constant_time("abc", "ab"));
}

}  // namespace
}  // namespace dm2::crypto
