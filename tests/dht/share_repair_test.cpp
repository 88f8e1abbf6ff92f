// Share repair while a key's owner is down: real X25519 sealing, real Shamir shares, the
// in-process sim_network (docs/overlay.md, "Share repair").
#include <gtest/gtest.h>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/share_repair.hpp"
#include "replication_fixture.hpp"

namespace dm2::dht {
namespace {

using testing::crypto_share_source;
using testing::split_of;
using testing::sim_cluster;

constexpr unsigned t = 2, n = 4;

replication_settings fast() {
  replication_settings rs;
  rs.repair_period = millis(1000);
  rs.share_inventory_wait = millis(200);
  rs.share_repair_timeout = millis(800);
  return rs;
}

struct owned_key {
  std::string owner, key_id, secret;
};

// Site 0 owns `count` keys, split t-of-n; runs until they are placed.
std::vector<owned_key> place_keys(sim_cluster& c, int count) {
  std::vector<owned_key> keys;
  for (int k = 0; k < count; ++k) {
    owned_key key{c.site(0).id, "key-" + std::to_string(k), crypto::random_bytes(32)};
    c.own_secret(0, key.key_id, key.secret, t, n);
    keys.push_back(key);
  }
  c.run_for(millis(600));
  return keys;
}

std::vector<std::pair<std::string, std::string>> ids(const std::vector<owned_key>& keys) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& k : keys) out.emplace_back(k.owner, k.key_id);
  return out;
}

std::string holder_of(sim_cluster& c, const std::string& key_id, std::uint32_t index) {
  for (int s = 0; s < c.size(); ++s) {
    if (!c.members().is_live(c.site(s).id)) continue;
    bool holds = false;
    c.site(s).store.for_each_share(
        [&](const key_share& sh) { holds = holds || (sh.key_id == key_id && sh.index == index); });
    if (holds) return c.site(s).id;
  }
  return {};
}

std::uint64_t total(sim_cluster& c, std::uint64_t replicator_counters::*field) {
  std::uint64_t sum = 0;
  for (int s = 0; s < c.size(); ++s) sum += c.site(s).engine->counters().*field;
  return sum;
}

TEST(share_repair, owner_and_a_holder_down_every_key_regains_n_shares_that_combine) {
  sim_cluster c(10, fast(), {}, /*real_shares=*/true);
  auto keys = place_keys(c, 6);
  ASSERT_EQ(c.under_shared(ids(keys), n), 0u);
  // The owner and the holder of key-0's index 1 — the first coordinator — go down together.
  auto coordinator = holder_of(c, "key-0", 1);
  c.kill(0);
  c.kill(std::stoi(coordinator.substr(5)));
  EXPECT_GT(c.under_shared(ids(keys), n), 0u);
  c.run_for(millis(3000));
  EXPECT_EQ(c.under_shared(ids(keys), n), 0u);
  EXPECT_GT(total(c, &replicator_counters::shares_repaired), 0u);
  EXPECT_EQ(total(c, &replicator_counters::repair_refused), 0u);
  const auto& split = static_cast<crypto_share_source&>(*c.site(0).shares);
  for (const auto& k : keys) {
    auto live = c.live_shares(k.key_id);
    ASSERT_EQ(live.size(), n) << k.key_id;
    for (const auto& [index, share] : live) {
      // A repaired share is byte for byte the one the owner's split gave that index ...
      EXPECT_EQ(share, split_of(split, k.key_id)[index - 1]) << k.key_id << " index " << index;
      // ... and combines with every other live share into the secret.
      for (const auto& [other, share2] : live) {
        if (other == index) continue;
        auto secret = crypto::combine_shares({share, share2});
        ASSERT_TRUE(secret.ok()) << secret.err().to_string();
        EXPECT_EQ(*secret, k.secret);
      }
    }
  }
  // The owner comes back: its rounds find n shares on n targets and push nothing.
  auto pushed = c.site(0).engine->counters().shares_pushed;
  c.revive(0, /*wiped=*/false);
  c.run_for(millis(2500));
  EXPECT_EQ(c.site(0).engine->counters().shares_pushed, pushed);
  EXPECT_EQ(c.under_shared(ids(keys), n), 0u);
}

// Message loss under 12 seeds: each loses different pushes, inventories, plans, pieces and sums.
class share_repair_lossy : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(share_repair_lossy, lost_messages_and_a_helper_dying_mid_repair_are_retried) {
  sim_network_settings lossy;
  lossy.loss_rate = 0.15;
  lossy.seed = GetParam();
  sim_cluster c(10, fast(), lossy, /*real_shares=*/true);
  auto keys = place_keys(c, 6);
  c.run_for(millis(8000));  // lost pushes: the owner's later rounds place the rest
  ASSERT_EQ(c.under_shared(ids(keys), n), 0u);
  c.kill(0);
  // Let the first repairs start, then kill a helper of key-0 in the middle of them.
  c.run_for(millis(1300));
  auto helper = holder_of(c, "key-0", 2);
  if (!helper.empty() && helper != c.site(0).id) c.kill(std::stoi(helper.substr(5)));
  c.run_for(millis(16000));  // a repair needs ~5 messages through: at 15 % loss, a few rounds
  EXPECT_EQ(c.under_shared(ids(keys), n), 0u);
  for (const auto& k : keys) {
    auto live = c.live_shares(k.key_id);
    ASSERT_GE(live.size(), t);
    std::vector<std::string> all;
    for (const auto& [i, share] : live) all.push_back(share);
    auto secret = crypto::combine_shares(all);
    ASSERT_TRUE(secret.ok()) << k.key_id << ": " << secret.err().to_string();
    EXPECT_EQ(*secret, k.secret);
  }
}

INSTANTIATE_TEST_SUITE_P(seeds, share_repair_lossy, ::testing::Range<std::uint64_t>(1, 13));

// While the owner stays down and its key's targets stay as they answered, the holders ask for
// inventories once, not every round; a target that restarts with an empty disk is asked again
// (its new incarnation says it) and its share is repaired.
TEST(share_repair, holders_ask_once_while_nothing_changes_and_again_after_a_target_restarts) {
  sim_cluster c(10, fast(), {}, /*real_shares=*/true);
  auto keys = place_keys(c, 4);
  ASSERT_EQ(c.under_shared(ids(keys), n), 0u);
  c.kill(0);
  c.run_for(millis(3000));
  ASSERT_EQ(c.under_shared(ids(keys), n), 0u);
  auto inventories = [&c] { return c.net().sent_by_type()[message{repair_inventory_request{}}.index()]; };
  auto before = inventories();
  ASSERT_GT(before, 0u);
  c.run_for(millis(4000));  // four rounds with the owner down and nothing else moving
  EXPECT_EQ(inventories(), before);
  auto wiped = holder_of(c, "key-0", n);
  c.restart_unseen(std::stoi(wiped.substr(5)), /*wiped=*/true);
  EXPECT_GT(c.under_shared(ids(keys), n), 0u);
  c.run_for(millis(3000));
  EXPECT_GT(inventories(), before);
  EXPECT_EQ(c.under_shared(ids(keys), n), 0u);
}

TEST(share_repair, fewer_than_t_live_shares_repairs_nothing_and_says_so) {
  sim_cluster c(8, fast(), {}, /*real_shares=*/true);
  auto keys = place_keys(c, 1);
  ASSERT_EQ(c.under_shared(ids(keys), n), 0u);
  c.kill(0);
  // Index 1 survives alone: it would coordinate, and finds fewer than t live shares.
  for (std::uint32_t i = 2; i <= n; ++i) c.kill(std::stoi(holder_of(c, "key-0", i).substr(5)));
  c.run_for(millis(3000));
  EXPECT_EQ(total(c, &replicator_counters::shares_repaired), 0u);
  EXPECT_EQ(total(c, &replicator_counters::repairs_started), 0u);
  EXPECT_GT(total(c, &replicator_counters::repairs_impossible), 0u);
  EXPECT_EQ(c.live_shares("key-0").size(), 1u);
}

// A target given sums by a lying helper cannot tell, but the check shared with the secret makes
// combine fail instead of returning a wrong secret. Malformed and misdirected messages are
// refused and store nothing.
TEST(share_repair, forged_sums_fail_to_combine_and_malformed_messages_are_refused) {
  sim_cluster c(10, fast(), {}, /*real_shares=*/true);
  auto keys = place_keys(c, 1);
  c.kill(0);
  const auto split = split_of(static_cast<crypto_share_source&>(*c.site(0).shares), "key-0");
  auto h1 = holder_of(c, "key-0", 1), h2 = holder_of(c, "key-0", 2);
  c.kill(std::stoi(holder_of(c, "key-0", 4).substr(5)));  // index 4 is missing now
  placement_index p(c.members().live_sites());
  std::string target;
  for (const auto& s : p.closest_ids(key_of("key-0"), n, c.site(0).id))
    if (holder_of(c, "key-0", 1) != s && holder_of(c, "key-0", 2) != s &&
        holder_of(c, "key-0", 3) != s)
      target = s;
  ASSERT_FALSE(target.empty());
  auto& receiver = *c.by_id(target).engine;
  repair_plan plan{std::string(32, 'a'), "key-0", c.site(0).id, n, t, 4, target, {{h1, 1}, {h2, 2}}};

  // Malformed or misdirected: refused, nothing stored.
  auto refused = receiver.counters().repair_refused;
  receiver.on_message(h1, repair_sum{plan, 2, "x"});        // h1 does not hold index 2
  receiver.on_message(h1, repair_piece{"short", 1, "x"});    // session id too short
  auto bad_plan = plan;
  bad_plan.helpers = {{h1, 1}, {h1, 2}};                     // one site twice
  receiver.on_message(h1, repair_sum{bad_plan, 1, "x"});
  bad_plan = plan;
  bad_plan.target_index = 1;                                 // a helper's index
  receiver.on_message(h1, repair_sum{bad_plan, 1, "x"});
  receiver.on_message(h2, repair_start{plan});               // not the coordinator (h1)
  EXPECT_EQ(receiver.counters().repair_refused, refused + 5);
  EXPECT_TRUE(holder_of(c, "key-0", 4).empty());

  // Well-formed sums of which one was changed by its helper.
  std::vector<std::uint8_t> idx{1, 2};
  auto p1 = crypto::repair_contribution(split[0], idx, 4);
  auto p2 = crypto::repair_contribution(split[1], idx, 4);
  ASSERT_TRUE(p1.ok() && p2.ok());
  auto s1 = crypto::add_pieces({(*p1)[0], (*p2)[0]});
  auto s2 = crypto::add_pieces({(*p1)[1], (*p2)[1]});
  (*s2)[3] ^= 0x40;
  receiver.on_message(h1, repair_sum{plan, 1, *s1});
  receiver.on_message(h2, repair_sum{plan, 2, *s2});
  EXPECT_EQ(receiver.counters().shares_repaired, 1u);
  auto forged = c.live_shares("key-0").at(4);
  EXPECT_NE(forged, split[3]);
  auto r = crypto::combine_shares({forged, split[0]});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::integrity_failure);
  // A second repair for a site that already holds a share of the key is refused.
  refused = receiver.counters().repair_refused;
  plan.session = std::string(32, 'b');
  receiver.on_message(h1, repair_sum{plan, 1, *s1});
  EXPECT_EQ(receiver.counters().repair_refused, refused + 1);
}

TEST(share_repair, pieces_for_unknown_sessions_are_bounded_and_expire) {
  sim_cluster c(4, fast(), {}, /*real_shares=*/true);
  auto& e = *c.site(0).engine;
  const std::string big(crypto::max_shared_secret_size + crypto::share_check_size, 'p');
  // 64 MiB of buffered pieces at most (1,023 of the largest size); the rest are refused.
  const std::uint64_t fit = (64u << 20) / big.size();
  for (int i = 0; i < 1100; ++i)
    e.on_message(c.site(1).id, repair_piece{"unknown-session-" + std::to_string(i), 1, big});
  EXPECT_EQ(e.counters().repair_refused, 1100u - fit);
  c.run_for(fast().share_repair_timeout + millis(200));  // they expire: room again
  e.on_message(c.site(1).id, repair_piece{"session-after-expiry", 1, big});
  EXPECT_EQ(e.counters().repair_refused, 1100u - fit);
}

TEST(x25519_keyring, opens_what_it_sealed_and_nothing_else) {
  auto ed = crypto::generate_private_key(crypto::key_type::ed25519);
  ASSERT_TRUE(ed.ok());
  EXPECT_EQ(x25519_keyring::from_private_key(*ed).err().code, errc::unsupported);
  EXPECT_EQ(x25519_keyring::from_private_key("not a key").err().code, errc::malformed_input);
  auto a = testing::new_keyring(), b = testing::new_keyring();
  auto sealed = a.seal_for_self("key-1", "share bytes");
  ASSERT_TRUE(sealed.ok());
  key_share s{"key-1", 1, "o", "a", *sealed, 3, 2};
  EXPECT_EQ(*a.open(s), "share bytes");
  EXPECT_EQ(b.open(s).err().code, errc::integrity_failure);  // not sealed to b
  s.key_id = "key-2";                                         // bound to the key id
  EXPECT_EQ(a.open(s).err().code, errc::integrity_failure);
}

}  // namespace
}  // namespace dm2::dht
