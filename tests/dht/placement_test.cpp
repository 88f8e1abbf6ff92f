#include "dm2/dht/placement.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace dm2::dht {
namespace {

site_info site(std::string name) {
  site_info s;
  s.id = node_id_of_public_key(name);
  s.site_id = std::move(name);
  return s;
}

node_id id_with_first_byte(std::uint8_t b) {
  node_id id{};
  id[0] = b;
  return id;
}

std::vector<site_info> many_sites(int n) {
  std::vector<site_info> v;
  for (int i = 0; i < n; ++i) v.push_back(site("site-" + std::to_string(i)));
  return v;
}

TEST(placement, xor_distance_orders_by_highest_differing_bit) {
  node_id target = id_with_first_byte(0b1000'0000);
  EXPECT_TRUE(closer(id_with_first_byte(0b1000'0001), id_with_first_byte(0b0000'0000), target));
  EXPECT_FALSE(closer(id_with_first_byte(0b0111'1111), id_with_first_byte(0b1100'0000), target));
  EXPECT_FALSE(closer(target, target, target));  // equal distance is not closer
}

TEST(placement, closest_matches_a_full_sort_by_xor_distance) {
  auto sites = many_sites(200);
  placement_index index(sites);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    auto key = key_of("lfn-" + std::to_string(rng()));
    auto expected = sites;
    std::sort(expected.begin(), expected.end(),
              [&](const site_info& a, const site_info& b) { return closer(a.id, b.id, key); });
    auto got = index.closest(key, 5);
    ASSERT_EQ(got.size(), 5u);
    for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(got[i]->site_id, expected[i].site_id);
  }
}

TEST(placement, exclusion_skips_the_owner_and_takes_the_next) {
  auto sites = many_sites(10);
  placement_index index(sites);
  auto key = key_of("lfn");
  auto all = index.closest_ids(key, 4);
  auto without_first = index.closest_ids(key, 3, all[0]);
  EXPECT_EQ(without_first, std::vector<std::string>(all.begin() + 1, all.end()));
}

TEST(placement, fewer_sites_than_k_gives_every_site) {
  placement_index index(many_sites(2));
  EXPECT_EQ(index.closest(key_of("x"), 3).size(), 2u);
  EXPECT_TRUE(placement_index().closest(key_of("x"), 3).empty());
  EXPECT_EQ(index.closest(key_of("x"), 3, "site-0").size(), 1u);
}

TEST(placement, equal_node_ids_tie_break_on_site_id_whatever_the_input_order) {
  node_id same = id_with_first_byte(0x42);
  std::vector<site_info> v{{"b", same, {}}, {"c", same, {}}, {"a", same, {}}};
  auto first = placement_index(v).closest_ids(key_of("k"), 3);
  std::reverse(v.begin(), v.end());
  auto second = placement_index(v).closest_ids(key_of("k"), 3);
  EXPECT_EQ(first, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(first, second);
}

TEST(placement, deterministic_regardless_of_input_order) {
  auto sites = many_sites(50);
  auto shuffled = sites;
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937(3));
  for (int i = 0; i < 20; ++i) {
    auto key = key_of(std::to_string(i));
    EXPECT_EQ(placement_index(sites).closest_ids(key, 3),
              placement_index(shuffled).closest_ids(key, 3));
  }
}

TEST(placement, node_id_hex_round_trips_and_refuses_garbage) {
  auto id = node_id_of_public_key("key");
  auto back = node_id_from_hex(to_hex(id));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, id);
  EXPECT_FALSE(node_id_from_hex("abc").ok());
  EXPECT_FALSE(node_id_from_hex(std::string(40, 'z')).ok());
}

}  // namespace
}  // namespace dm2::dht
