// The product share source: owned keys round-trip through their encoding and a real RocksDB
// family, any index's share is re-created byte for byte after a restart, and t of the sealed
// shares rebuild the key.
#include "dm2/dht/owned_keys.hpp"

#include <gtest/gtest.h>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/seal.hpp"
#include "dm2/crypto/shares.hpp"
#include "dm2/dht/share_keyring.hpp"
#include "support/temp_dir.hpp"

namespace dm2::dht {
namespace {

TEST(owned_keys, encoding_round_trips_and_refuses_garbage) {
  auto k = make_owned_key("00112233445566778899aabbccddeeff", crypto::random_bytes(32), 2, 3);
  ASSERT_TRUE(k.ok());
  auto back = decode_owned_key(encode_owned_key(*k));
  ASSERT_TRUE(back.ok()) << back.err().to_string();
  EXPECT_EQ(back->secret, k->secret);
  EXPECT_EQ(back->seed, k->seed);
  EXPECT_EQ(back->threshold, 2u);
  EXPECT_EQ(back->count, 3u);
  auto bytes = encode_owned_key(*k);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut)
    EXPECT_FALSE(decode_owned_key(bytes.substr(0, cut)).ok()) << cut;
  EXPECT_FALSE(decode_owned_key(bytes + "x").ok());
  EXPECT_EQ(make_owned_key("k", "s", 3, 2).err().code, errc::invalid_argument);
  EXPECT_EQ(make_owned_key("", "s", 2, 3).err().code, errc::invalid_argument);
}

TEST(owned_keys, shares_are_recreated_identically_from_the_database_and_t_of_them_rebuild_the_key) {
  test::temp_dir dir{"dm2-owned-keys"};
  auto storage_key = crypto::random_bytes(32);
  std::map<std::string, x25519_keyring> holders;
  for (const char* site : {"a", "b", "c"}) {
    auto keyring = x25519_keyring::from_private_key(*crypto::generate_private_key(crypto::key_type::x25519));
    ASSERT_TRUE(keyring.ok());
    holders.emplace(site, std::move(*keyring));
  }
  auto sealer = [&](const std::string& holder, const std::string& key_id, std::string_view raw) {
    return crypto::seal(holders.at(holder).public_key(), raw, key_id);
  };
  auto secret = crypto::random_bytes(32);
  std::vector<std::string> before;
  {
    auto db = storage::database::open(dir / "db", storage_key);
    ASSERT_TRUE(db.ok());
    auto k = make_owned_key("key-1", secret, 2, 3);
    storage::transaction t;
    put_owned_key(t, *k);
    ASSERT_TRUE((*db)->commit(std::move(t)).ok());
    owned_key_source source("a", sealer);
    source.add(*k);
    for (std::uint32_t i = 1; i <= 3; ++i) before.push_back(*source.raw_share("key-1", i));
  }
  auto db = storage::database::open(dir / "db", storage_key);
  ASSERT_TRUE(db.ok());
  owned_key_source source("a", sealer);
  ASSERT_TRUE(source.load(**db).ok());
  ASSERT_EQ(source.keys().size(), 1u);
  EXPECT_EQ(source.keys()[0].second, 3u);
  std::vector<std::string> opened;
  const char* sites[] = {"a", "b", "c"};
  for (std::uint32_t i = 1; i <= 3; ++i) {
    auto share = source.make_share("key-1", i, sites[i - 1]);
    ASSERT_TRUE(share.has_value());
    EXPECT_EQ(share->threshold, 2u);
    EXPECT_EQ(share->count, 3u);
    EXPECT_EQ(share->owner, "a");
    auto raw = holders.at(sites[i - 1]).open(*share);
    ASSERT_TRUE(raw.ok()) << raw.err().to_string();
    EXPECT_EQ(*raw, before[i - 1]);  // the same bytes as before the restart
    opened.push_back(*raw);
  }
  EXPECT_EQ(*crypto::combine_shares({opened[0], opened[2]}), secret);
  EXPECT_FALSE(crypto::combine_shares({opened[1]}).ok());
  EXPECT_FALSE(source.make_share("key-1", 4, "a").has_value());  // beyond n
  EXPECT_FALSE(source.make_share("unknown", 1, "a").has_value());
}

}  // namespace
}  // namespace dm2::dht
