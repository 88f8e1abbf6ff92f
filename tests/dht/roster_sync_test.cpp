#include "dm2/dht/roster_sync.hpp"

#include <gtest/gtest.h>

#include <map>

#include "dm2/crypto/hash.hpp"
#include "dm2/dht/bep44.hpp"
#include "overlay_cluster.hpp"

namespace dm2::dht {
namespace {

using testing::eventually;
using testing::overlay_node;
using testing::start_node;

constexpr std::int64_t now_s = 1'800'000'000;

// Serves whatever document each site id is given; unknown sites are unreachable.
class memory_fetcher final : public roster_fetcher {
 public:
  std::map<std::string, std::string> documents;
  int calls = 0;
  result<std::string> fetch(const crypto::site_entry& from) override {
    ++calls;
    auto it = documents.find(from.site_id);
    if (it == documents.end()) return fail(errc::unavailable, "unreachable");
    return it->second;
  }
};

crypto::site_entry entry_for(const overlay_node& n, const std::string& id) {
  crypto::site_entry e;
  e.site_id = id;
  e.name = "Site " + id;
  e.certificate_sha256 = crypto::to_hex(crypto::sha256(id));
  e.dht_public_key = n.public_key;
  e.sealing_public_key = crypto::sha256("seal" + id);
  e.https_endpoint = n.address + ":8443";
  e.dht_endpoint = n.address + ":" + std::to_string(n.node->listen_port());
  e.expires_at = now_s + 3600;
  return e;
}

class roster_updates : public ::testing::Test {
 protected:
  void SetUp() override {
    consortium_pem_ = testing::new_ed25519_key();
    consortium_pub_ = *crypto::raw_public_key(consortium_pem_);
    for (int host : {11, 12, 13}) {
      nodes_.push_back(start_node(host));
      ASSERT_TRUE(nodes_.back().node);
    }
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      entries_.push_back(entry_for(nodes_[i], "site-" + std::string(1, static_cast<char>('a' + i))));
    v1_ = sign(1, entries_);
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      states_.push_back(std::make_unique<crypto::roster_state>(consortium_pub_));
      ASSERT_TRUE(states_.back()->accept(v1_).ok());
      syncs_.push_back(std::make_unique<roster_sync>(*nodes_[i].node, *states_.back(), fetcher_,
                                                     consortium_pub_, entries_[i].site_id,
                                                     [] { return now_s; }));
      ASSERT_TRUE(syncs_.back()->apply_current().ok());
    }
    ASSERT_TRUE(eventually([&] {
      for (auto& n : nodes_)
        if (n.node->routing_table_size() < 2) return false;
      return true;
    }));
  }
  std::string sign(std::uint64_t version, std::vector<crypto::site_entry> sites) {
    crypto::roster r;
    r.consortium = "Test Consortium";
    r.version = version;
    r.issued_at = now_s;
    r.sites = std::move(sites);
    return *crypto::sign_roster(r, consortium_pem_);
  }
  std::string consortium_pem_, consortium_pub_, v1_;
  std::vector<overlay_node> nodes_;
  std::vector<crypto::site_entry> entries_;
  std::vector<std::unique_ptr<crypto::roster_state>> states_;
  std::vector<std::unique_ptr<roster_sync>> syncs_;
  memory_fetcher fetcher_;
};

TEST_F(roster_updates, nothing_announced_or_same_version_changes_nothing) {
  auto r = syncs_[0]->refresh();
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_FALSE(*r);
  ASSERT_TRUE(announce_roster(*nodes_[0].node, v1_, consortium_pem_).ok());
  EXPECT_FALSE(*syncs_[1]->refresh());
  EXPECT_EQ(fetcher_.calls, 0);
  EXPECT_EQ(states_[1]->version(), 1u);
}

TEST_F(roster_updates, a_stale_announcement_changes_nothing) {
  // Node 1 already holds v2 (published to it directly); the DHT still announces v1.
  auto v2 = sign(2, entries_);
  ASSERT_TRUE(*states_[1]->accept(v2));
  ASSERT_TRUE(announce_roster(*nodes_[0].node, v1_, consortium_pem_).ok());
  auto r = syncs_[1]->refresh();
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_FALSE(*r);
  EXPECT_EQ(fetcher_.calls, 0);
  EXPECT_EQ(states_[1]->version(), 2u);
  EXPECT_EQ(states_[1]->current_document(), v2);
}

TEST_F(roster_updates, a_removed_site_is_cut_off_within_one_refresh) {
  auto v2 = sign(2, {entries_[0], entries_[1]});
  fetcher_.documents = {{"site-a", v2}, {"site-b", v2}};
  auto stored = announce_roster(*nodes_[0].node, v2, consortium_pem_);
  ASSERT_TRUE(stored.ok()) << stored.err().to_string();
  ASSERT_GE(*stored, 1);
  std::vector<std::string> adopted;
  for (int i : {0, 1}) {
    syncs_[static_cast<std::size_t>(i)]->on_adopted = [&](const crypto::roster& r) {
      adopted.push_back(std::to_string(r.version));
    };
    auto r = syncs_[static_cast<std::size_t>(i)]->refresh();
    ASSERT_TRUE(r.ok()) << r.err().to_string();
    EXPECT_TRUE(*r);
    EXPECT_EQ(states_[static_cast<std::size_t>(i)]->version(), 2u);
  }
  EXPECT_EQ(adopted, (std::vector<std::string>{"2", "2"}));
  // site-c (still running, valid software) can store nothing at the remaining members.
  auto put = nodes_[2].node->put_mutable(nodes_[2].key_pem, "after", "v", 1);
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(*put, 0);
  EXPECT_GT(nodes_[0].node->refused_queries() + nodes_[1].node->refused_queries(), 0u);
}

TEST_F(roster_updates, forged_or_stale_documents_are_skipped_and_change_nothing) {
  auto v2 = sign(2, {entries_[0], entries_[1]});
  ASSERT_TRUE(announce_roster(*nodes_[0].node, v2, consortium_pem_).ok());
  auto forged = v2;
  forged[forged.find("site-a") + 5] = 'z';  // any changed byte breaks the signature
  fetcher_.documents = {{"site-a", forged}, {"site-c", v1_}};  // site-c serves the old one
  auto r = syncs_[1]->refresh();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::unavailable);
  EXPECT_EQ(states_[1]->version(), 1u);
  // An honest member then serves it.
  fetcher_.documents["site-c"] = v2;
  EXPECT_TRUE(*syncs_[1]->refresh());
  EXPECT_EQ(states_[1]->version(), 2u);
}

TEST_F(roster_updates, an_announcement_signed_elsewhere_is_relayed_read_back_and_adopted) {
  auto v2 = sign(2, entries_);
  // The operator signs; node 0 only relays (it never sees the consortium key).
  auto signature = roster_announcement_signature(v2, consortium_pem_);
  ASSERT_TRUE(signature.ok()) << signature.err().to_string();
  auto stored = relay_roster_announcement(*nodes_[0].node, v2, consortium_pub_, *signature);
  ASSERT_TRUE(stored.ok()) << stored.err().to_string();
  EXPECT_GE(*stored, 1);
  // Another node reads it back and it verifies under the consortium key.
  auto item = nodes_[2].node->get_mutable(consortium_pub_, roster_announce_salt);
  ASSERT_TRUE(item.ok()) << item.err().to_string();
  EXPECT_EQ(item->seq, 2);
  EXPECT_EQ(item->value, *crypto::roster_hash(*crypto::verify_roster(v2, consortium_pub_)));
  EXPECT_TRUE(verify_bep44_signature(consortium_pub_, roster_announce_salt, item->value, item->seq, *signature).ok());
  fetcher_.documents = {{"site-a", v2}};
  EXPECT_TRUE(*syncs_[2]->refresh());
  EXPECT_EQ(states_[2]->version(), 2u);
}

TEST_F(roster_updates, a_wrong_signature_is_refused_by_the_relay_and_by_every_receiver) {
  auto v2 = sign(2, entries_);
  auto v3 = sign(3, entries_);
  auto signature_of_v3 = *roster_announcement_signature(v3, consortium_pem_);
  // The relay checks first: v3's signature does not announce v2.
  auto relayed = relay_roster_announcement(*nodes_[0].node, v2, consortium_pub_, signature_of_v3);
  ASSERT_FALSE(relayed.ok());
  EXPECT_EQ(relayed.err().code, errc::integrity_failure);
  // Put unchecked, the receivers refuse it: nobody stores it, nobody reads it back.
  auto hash = *crypto::roster_hash(*crypto::verify_roster(v2, consortium_pub_));
  auto put = nodes_[0].node->put_signed_mutable(consortium_pub_, roster_announce_salt, hash, 2, signature_of_v3);
  ASSERT_TRUE(put.ok()) << put.err().to_string();
  EXPECT_EQ(*put, 0);
  for (auto& n : nodes_) EXPECT_EQ(n.node->stored_items(), 0u);
  EXPECT_FALSE(nodes_[1].node->get_mutable(consortium_pub_, roster_announce_salt).ok());
  EXPECT_FALSE(*syncs_[1]->refresh());
  EXPECT_EQ(fetcher_.calls, 0);
}

TEST_F(roster_updates, an_interrupted_overlay_fails_puts_and_gets_at_once) {
  nodes_[1].node->interrupt();
  auto started = std::chrono::steady_clock::now();
  auto got = nodes_[1].node->get_mutable(consortium_pub_, roster_announce_salt);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.err().code, errc::unavailable);
  auto put = nodes_[1].node->put_mutable(nodes_[1].key_pem, "x", "v", 1);
  ASSERT_FALSE(put.ok());
  EXPECT_EQ(put.err().code, errc::unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
}

}  // namespace
}  // namespace dm2::dht
