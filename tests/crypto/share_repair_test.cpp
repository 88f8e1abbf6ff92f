#include "dm2/crypto/share_repair.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/shares.hpp"

namespace dm2::crypto {
namespace {

// Runs the whole enrolment protocol among `helpers` (encoded shares) for index j, as the three
// parties would: contributions, one sum per helper, assembly at the new holder.
result<std::string> repair(const std::vector<std::string>& helpers, std::uint8_t j) {
  std::vector<std::uint8_t> indexes;
  for (const auto& h : helpers) indexes.push_back(static_cast<std::uint8_t>(h[2]));
  std::vector<std::vector<std::string>> received(helpers.size());  // received[k]: pieces for k
  for (const auto& h : helpers) {
    auto pieces = repair_contribution(h, indexes, j);
    if (!pieces) return std::move(pieces).err();
    for (std::size_t k = 0; k < pieces->size(); ++k) received[k].push_back((*pieces)[k]);
  }
  std::vector<std::string> sums;
  for (const auto& r : received) {
    auto sum = add_pieces(r);
    if (!sum) return std::move(sum).err();
    sums.push_back(std::move(*sum));
  }
  return assemble_repaired_share(sums, static_cast<unsigned>(helpers.size()), j);
}

TEST(gf256, matches_the_field_libgfshare_uses) {
  // 0x11d: x^8 = x^4 + x^3 + x^2 + 1, so 0x80 · 2 = 0x1d; 2 generates the whole group.
  EXPECT_EQ(gf256_mul(0x80, 2), 0x1d);
  EXPECT_EQ(gf256_mul(0, 0x53), 0);
  std::uint8_t x = 1;
  for (int i = 1; i < 255; ++i) {
    x = gf256_mul(x, 2);
    EXPECT_NE(x, 1) << i;
  }
  EXPECT_EQ(gf256_mul(x, 2), 1);
  for (unsigned a = 1; a < 256; ++a)
    EXPECT_EQ(gf256_mul(static_cast<std::uint8_t>(a), gf256_inverse(static_cast<std::uint8_t>(a))), 1) << a;
}

TEST(share_repair, the_repaired_share_equals_the_split_share_byte_for_byte) {
  for (auto [t, n] : {std::pair{2u, 3u}, {3u, 5u}, {4u, 7u}, {5u, 5u}}) {
    SCOPED_TRACE(std::to_string(t) + "-of-" + std::to_string(n));
    auto secret = random_bytes(40);
    auto shares = split_secret(secret, t, n);
    ASSERT_TRUE(shares.ok());
    // Repair every index from the t shares that follow it (cyclically).
    for (unsigned j = 0; j < n; ++j) {
      std::vector<std::string> helpers;
      for (unsigned k = 1; k <= t && helpers.size() < t; ++k)
        if ((j + k) % n != j) helpers.push_back((*shares)[(j + k) % n]);
      if (helpers.size() < t) continue;  // t = n: no t other shares
      auto repaired = repair(helpers, static_cast<std::uint8_t>(j + 1));
      ASSERT_TRUE(repaired.ok()) << repaired.err().to_string();
      EXPECT_EQ(*repaired, (*shares)[j]) << "index " << j + 1;
      // And it combines with t-1 others into the secret.
      std::vector<std::string> mix{*repaired};
      for (unsigned k = 0; mix.size() < t; ++k)
        if (k != j) mix.push_back((*shares)[k]);
      auto back = combine_shares(mix);
      ASSERT_TRUE(back.ok()) << back.err().to_string();
      EXPECT_EQ(*back, secret);
    }
  }
}

TEST(share_repair, an_index_beyond_n_combines_with_the_others) {
  auto secret = random_bytes(32);
  auto shares = split_secret(secret, 3, 4);
  ASSERT_TRUE(shares.ok());
  auto extra = repair({(*shares)[0], (*shares)[1], (*shares)[3]}, 200);
  ASSERT_TRUE(extra.ok());
  EXPECT_EQ(inspect_share(*extra)->index, 200);
  auto back = combine_shares({*extra, (*shares)[2], (*shares)[1]});
  ASSERT_TRUE(back.ok()) << back.err().to_string();
  EXPECT_EQ(*back, secret);
}

TEST(share_repair, pieces_look_random_and_only_their_xor_carries_the_value) {
  auto shares = split_secret(std::string(64, 'a'), 3, 5);
  ASSERT_TRUE(shares.ok());
  auto a = repair_contribution((*shares)[0], {1, 2, 3}, 4);
  auto b = repair_contribution((*shares)[0], {1, 2, 3}, 4);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) EXPECT_NE((*a)[k], (*b)[k]);  // fresh randomness per run
  EXPECT_EQ(*add_pieces(*a), *add_pieces(*b));                      // the same λ·s_1
}

TEST(share_repair, a_changed_sum_makes_combine_fail_instead_of_giving_a_wrong_secret) {
  auto secret = random_bytes(32);
  auto shares = split_secret(secret, 2, 3);
  ASSERT_TRUE(shares.ok());
  std::vector<std::uint8_t> idx{1, 2};
  auto p1 = repair_contribution((*shares)[0], idx, 3);
  auto p2 = repair_contribution((*shares)[1], idx, 3);
  ASSERT_TRUE(p1.ok() && p2.ok());
  auto s1 = add_pieces({(*p1)[0], (*p2)[0]});
  auto s2 = add_pieces({(*p1)[1], (*p2)[1]});
  ASSERT_TRUE(s1.ok() && s2.ok());
  (*s2)[5] ^= 0x01;  // a lying helper
  auto bad = assemble_repaired_share({*s1, *s2}, 2, 3);
  ASSERT_TRUE(bad.ok());
  auto r = combine_shares({*bad, (*shares)[0]});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::integrity_failure);
}

TEST(share_repair, refuses_mismatched_t_duplicates_collisions_and_sizes) {
  auto shares = split_secret("secret", 3, 5);
  ASSERT_TRUE(shares.ok());
  const auto& s1 = (*shares)[0];
  auto code = [](const auto& r) { return r.ok() ? std::optional<errc>() : r.err().code; };
  EXPECT_EQ(code(repair_contribution(s1, {1, 2}, 4)), errc::invalid_argument);        // t = 3
  EXPECT_EQ(code(repair_contribution(s1, {1, 2, 3, 4}, 5)), errc::invalid_argument);  // t = 3
  EXPECT_EQ(code(repair_contribution(s1, {1, 2, 2}, 4)), errc::invalid_argument);     // duplicate
  EXPECT_EQ(code(repair_contribution(s1, {1, 2, 3}, 3)), errc::invalid_argument);     // j a helper
  EXPECT_EQ(code(repair_contribution(s1, {1, 2, 3}, 0)), errc::invalid_argument);     // j = 0
  EXPECT_EQ(code(repair_contribution(s1, {2, 3, 4}, 5)), errc::invalid_argument);     // not ours
  EXPECT_EQ(code(repair_contribution(s1, {0, 1, 2}, 5)), errc::invalid_argument);     // index 0
  EXPECT_EQ(code(repair_contribution("xx", {1, 2, 3}, 5)), errc::malformed_input);
  EXPECT_EQ(code(add_pieces({})), errc::invalid_argument);
  EXPECT_EQ(code(add_pieces({"abc", "ab"})), errc::invalid_argument);
  EXPECT_EQ(code(add_pieces({""})), errc::invalid_argument);
  EXPECT_EQ(code(add_pieces({std::string(max_shared_secret_size + share_check_size + 1, 'x')})),
            errc::invalid_argument);
  std::string sum(20, 'x');
  EXPECT_EQ(code(assemble_repaired_share({sum, sum}, 3, 4)), errc::invalid_argument);  // t = 3
  EXPECT_EQ(code(assemble_repaired_share({sum, sum}, 2, 0)), errc::invalid_argument);
  EXPECT_EQ(code(assemble_repaired_share({sum, sum}, 1, 0)), errc::invalid_argument);
  EXPECT_EQ(code(assemble_repaired_share({"abc", "abc"}, 2, 4)), errc::invalid_argument);  // short
  EXPECT_TRUE(assemble_repaired_share({sum, sum}, 2, 4).ok());
}

}  // namespace
}  // namespace dm2::crypto
