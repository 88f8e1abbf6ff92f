#include "dm2/crypto/shares.hpp"

#include <gtest/gtest.h>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/seal.hpp"

namespace dm2::crypto {
namespace {

// Every subset of {0..n-1} with exactly k members, as bit masks.
std::vector<unsigned> subsets(unsigned n, unsigned k) {
  std::vector<unsigned> out;
  for (unsigned mask = 0; mask < (1u << n); ++mask)
    if (static_cast<unsigned>(__builtin_popcount(mask)) == k) out.push_back(mask);
  return out;
}

std::vector<std::string> pick(const std::vector<std::string>& shares, unsigned mask) {
  std::vector<std::string> out;
  for (unsigned i = 0; i < shares.size(); ++i)
    if (mask & (1u << i)) out.push_back(shares[i]);
  return out;
}

void check_every_subset(unsigned t, unsigned n) {
  SCOPED_TRACE(std::to_string(t) + "-of-" + std::to_string(n));
  auto secret = random_bytes(32);
  auto shares = split_secret(secret, t, n);
  ASSERT_TRUE(shares.ok()) << shares.err().to_string();
  ASSERT_EQ(shares->size(), n);
  for (unsigned k = t; k <= n; ++k)
    for (unsigned mask : subsets(n, k)) {
      auto r = combine_shares(pick(*shares, mask));
      ASSERT_TRUE(r.ok()) << "mask " << mask << ": " << r.err().to_string();
      EXPECT_EQ(*r, secret) << "mask " << mask;
    }
  for (unsigned mask : subsets(n, t - 1)) {
    auto r = combine_shares(pick(*shares, mask));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.err().code, errc::invalid_argument);
  }
}

TEST(shares, every_t_subset_recovers) {
  check_every_subset(2, 2);
  check_every_subset(2, 3);
  check_every_subset(3, 5);
  check_every_subset(4, 7);
}

TEST(shares, derived_shares_are_deterministic_and_any_t_of_them_recover) {
  auto secret = random_bytes(32), seed = random_bytes(32);
  std::vector<std::string> shares;
  for (std::uint8_t i = 1; i <= 5; ++i) {
    auto s = derive_share(secret, 3, i, seed);
    ASSERT_TRUE(s.ok()) << s.err().to_string();
    EXPECT_EQ(*s, *derive_share(secret, 3, i, seed)) << "index " << int(i);  // re-created identically
    EXPECT_NE(*s, *derive_share(secret, 3, i, random_bytes(32)));            // the seed matters
    shares.push_back(*s);
  }
  for (unsigned mask : subsets(5, 3)) EXPECT_EQ(*combine_shares(pick(shares, mask)), secret) << mask;
  for (unsigned mask : subsets(5, 2)) EXPECT_FALSE(combine_shares(pick(shares, mask)).ok()) << mask;
  EXPECT_EQ(derive_share(secret, 3, 0, seed).err().code, errc::invalid_argument);
  EXPECT_EQ(derive_share(secret, 1, 1, seed).err().code, errc::invalid_argument);
  EXPECT_EQ(derive_share(secret, 3, 1, "short").err().code, errc::invalid_argument);
  EXPECT_EQ(derive_share("", 3, 1, seed).err().code, errc::invalid_argument);
}

TEST(shares, t_minus_1_shares_do_not_recover_even_with_a_forged_threshold) {
  // Lowering the threshold byte gets past the count check; the interpolation of t-1 points is
  // then a different polynomial and the embedded check refuses it.
  auto secret = random_bytes(32);
  auto shares = *split_secret(secret, 3, 5);
  for (unsigned mask : subsets(5, 2)) {
    auto two = pick(shares, mask);
    for (auto& s : two) s[1] = 2;
    auto r = combine_shares(two);
    ASSERT_FALSE(r.ok()) << "mask " << mask;
    EXPECT_EQ(r.err().code, errc::integrity_failure);
  }
}

TEST(shares, header_carries_index_and_threshold) {
  auto shares = *split_secret("k", 2, 3);
  for (unsigned i = 0; i < 3; ++i) {
    auto info = inspect_share(shares[i]);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->threshold, 2);
    EXPECT_EQ(info->index, i + 1);
    EXPECT_EQ(info->secret_size, 1u);
  }
  // Two splits of one secret give unrelated shares (fresh coefficients).
  EXPECT_NE(shares[0], (*split_secret("k", 2, 3))[0]);
}

TEST(shares, every_flipped_bit_in_a_share_is_refused) {
  auto secret = random_bytes(32);
  auto shares = *split_secret(secret, 2, 3);
  for (size_t byte = 0; byte < shares[0].size(); ++byte)
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = shares;
      bad[0][byte] = static_cast<char>(bad[0][byte] ^ (1 << bit));
      auto r = combine_shares({bad[0], bad[1]});
      ASSERT_FALSE(r.ok()) << "byte " << byte << " bit " << bit;
    }
}

TEST(shares, bad_parameters_and_mixtures_are_refused) {
  for (auto [t, n] : {std::pair{1u, 3u}, {0u, 3u}, {4u, 3u}, {2u, 256u}, {2u, 1u}})
    EXPECT_EQ(split_secret("s", t, n).err().code, errc::invalid_argument) << t << "-of-" << n;
  EXPECT_TRUE(split_secret("s", 255, 255).ok());
  EXPECT_EQ(split_secret("", 2, 3).err().code, errc::invalid_argument);
  EXPECT_EQ(split_secret(std::string(max_shared_secret_size + 1, 'x'), 2, 3).err().code,
            errc::invalid_argument);

  auto a = *split_secret(random_bytes(32), 2, 3);
  auto b = *split_secret(random_bytes(32), 2, 3);
  auto longer = *split_secret(random_bytes(33), 2, 3);
  auto three = *split_secret(random_bytes(32), 3, 3);
  EXPECT_EQ(combine_shares({a[0], a[0]}).err().code, errc::invalid_argument);     // duplicate
  EXPECT_EQ(combine_shares({a[0], longer[1]}).err().code, errc::malformed_input);  // sizes
  EXPECT_EQ(combine_shares({a[0], three[1], three[2]}).err().code, errc::malformed_input);
  EXPECT_EQ(combine_shares({a[0], b[1]}).err().code, errc::integrity_failure);    // two splits
  EXPECT_EQ(combine_shares({}).err().code, errc::invalid_argument);
  EXPECT_EQ(combine_shares({"short", a[1]}).err().code, errc::malformed_input);
  auto zero = a[0];
  zero[2] = 0;
  EXPECT_EQ(combine_shares({zero, a[1]}).err().code, errc::malformed_input);
  auto version = a[0];
  version[0] = 2;
  EXPECT_EQ(combine_shares({version, a[1]}).err().code, errc::malformed_input);
}

TEST(shares, sealed_to_holders) {
  std::vector<std::string> holders_private, holders_public;
  for (int i = 0; i < 3; ++i) {
    holders_private.push_back(*generate_private_key(key_type::x25519));
    holders_public.push_back(*raw_public_key(holders_private.back()));
  }
  auto secret = random_bytes(32);
  auto sealed = split_and_seal(secret, 2, holders_public, "series-key=7");
  ASSERT_TRUE(sealed.ok()) << sealed.err().to_string();
  ASSERT_EQ(sealed->size(), 3u);
  // Each holder opens only its own share.
  EXPECT_EQ(open_sealed(holders_private[1], (*sealed)[0], "series-key=7").err().code,
            errc::integrity_failure);
  auto s0 = open_sealed(holders_private[0], (*sealed)[0], "series-key=7");
  auto s2 = open_sealed(holders_private[2], (*sealed)[2], "series-key=7");
  ASSERT_TRUE(s0.ok() && s2.ok());
  EXPECT_EQ(*combine_shares({*s2, *s0}), secret);
  EXPECT_EQ(split_and_seal(secret, 2, {holders_public[0], "bad"}, "").err().code,
            errc::invalid_argument);
}

}  // namespace
}  // namespace dm2::crypto
