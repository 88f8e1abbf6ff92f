#include "dm2/dht/overlay.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dm2/dht/node_id.hpp"
#include "dm2/dht/overlay_status.hpp"
#include "dm2/storage/database.hpp"
#include "overlay_cluster.hpp"
#include "support/temp_dir.hpp"

namespace dm2::dht {
namespace {

using testing::eventually;
using testing::keys_of;
using testing::overlay_node;
using testing::peers_of;
using testing::start_node;

overlay_settings loopback(std::uint16_t port = 0) {
  overlay_settings s;
  s.listen_address = "127.0.0.1";
  s.listen_port = port;
  return s;
}

TEST(overlay, starts_on_an_ephemeral_port_with_id_from_site_key) {
  auto o = overlay::start(loopback(), std::string(32, 'k'));
  ASSERT_TRUE(o.ok()) << o.err().to_string();
  EXPECT_NE((*o)->listen_port(), 0);
  // The id libtorrent runs with is SHA-1 of the site key.
  EXPECT_EQ((*o)->node_id_hex(), to_hex(node_id_of_public_key(std::string(32, 'k'))));
  auto other = overlay::start(loopback(), std::string(32, 'j'));
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*o)->node_id_hex(), (*other)->node_id_hex());
}

TEST(overlay, occupied_udp_port_is_a_clear_error) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto o = overlay::start(loopback(ntohs(addr.sin_port)), std::string(32, 'k'));
  ::close(fd);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.err().code, errc::unavailable);
  EXPECT_NE(o.err().message.find("/udp"), std::string::npos) << o.err().message;
}

TEST(overlay, wildcard_address_is_refused) {
  auto s = loopback();
  s.listen_address = "0.0.0.0";
  auto o = overlay::start(s, std::string(32, 'k'));
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.err().code, errc::invalid_argument);
}

class three_nodes : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int host : {2, 3, 4}) {
      nodes_.push_back(start_node(host, settings_));
      ASSERT_TRUE(nodes_.back().node) << "cannot start node on 127.0.0." << host;
    }
    for (auto& n : nodes_) members_.push_back(&n);
    for (auto& n : nodes_) ASSERT_TRUE(n.node->set_roster(peers_of(members_), keys_of(members_)).ok());
    ASSERT_TRUE(eventually([&] {
      for (auto& n : nodes_)
        if (n.node->routing_table_size() < 2) return false;
      return true;
    })) << "routing tables did not fill";
  }
  overlay_settings settings_ = [] {
    overlay_settings s;
    s.request_timeout = std::chrono::seconds(20);
    s.items.max_value_bytes = 200;
    s.items.max_items_per_key = 3;
    return s;
  }();
  std::vector<overlay_node> nodes_;
  std::vector<overlay_node*> members_;
};

TEST_F(three_nodes, join_from_the_roster_and_read_at_one_node_an_item_put_at_another) {
  // (A member may be refused once at start-up, before its peers' set_roster ran.)
  auto refused_before = nodes_[0].node->refused_queries() + nodes_[1].node->refused_queries();
  auto put = nodes_[0].node->put_mutable(nodes_[0].key_pem, "roster", "hello", 1);
  ASSERT_TRUE(put.ok()) << put.err().to_string();
  EXPECT_GE(*put, 1);
  auto got = nodes_[2].node->get_mutable(nodes_[0].public_key, "roster");
  ASSERT_TRUE(got.ok()) << got.err().to_string();
  EXPECT_EQ(got->value, "hello");
  EXPECT_EQ(got->seq, 1);
  // A newer sequence number replaces it.
  ASSERT_TRUE(nodes_[1].node->put_mutable(nodes_[0].key_pem, "roster", "again", 2).ok());
  auto newer = nodes_[2].node->get_mutable(nodes_[0].public_key, "roster");
  ASSERT_TRUE(newer.ok());
  EXPECT_EQ(newer->value, "again");
  EXPECT_EQ(nodes_[0].node->refused_queries() + nodes_[1].node->refused_queries(), refused_before);
}

TEST_F(three_nodes, a_node_not_on_the_roster_is_refused) {
  auto outsider = start_node(5, settings_);
  ASSERT_TRUE(outsider.node);
  // The outsider knows the members' endpoints; they do not list it.
  auto with_outsider = members_;
  with_outsider.push_back(&outsider);
  ASSERT_TRUE(outsider.node->set_roster(peers_of(with_outsider), keys_of(with_outsider)).ok());
  auto put = outsider.node->put_mutable(nodes_[0].key_pem, "x", "from outside", 1);
  ASSERT_TRUE(put.ok()) << put.err().to_string();
  EXPECT_EQ(*put, 0);
  // Each member counts a refusal on its own session's thread, possibly after the outsider gave up.
  EXPECT_TRUE(eventually([&] {
    std::uint64_t refused = 0;
    for (auto& n : nodes_) refused += n.node->refused_queries();
    return refused > 0;
  }));
  auto get = outsider.node->get_mutable(nodes_[0].public_key, "x");
  EXPECT_FALSE(get.ok());
  for (auto& n : nodes_) EXPECT_EQ(n.node->stored_items(), 0u);
}

TEST_F(three_nodes, items_signed_by_unknown_keys_oversized_or_over_quota_are_refused) {
  auto stranger_key = testing::new_ed25519_key();
  auto put = nodes_[0].node->put_mutable(stranger_key, "x", "unsigned by the roster", 1);
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(*put, 0);
  auto big = nodes_[0].node->put_mutable(nodes_[0].key_pem, "big", std::string(300, 'b'), 1);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(*big, 0);  // over the receivers' 200-byte limit
  EXPECT_EQ(nodes_[0].node->put_mutable(nodes_[0].key_pem, "huge", std::string(997, 'b'), 1).err().code,
            errc::too_large);
  for (int i = 0; i < 3; ++i)
    EXPECT_GE(*nodes_[0].node->put_mutable(nodes_[0].key_pem, "q" + std::to_string(i), "v", 1), 1);
  auto over = nodes_[0].node->put_mutable(nodes_[0].key_pem, "q3", "v", 1);
  EXPECT_EQ(*over, 0);  // fourth item of one key: over every node's quota of 3
  std::uint64_t refused = 0;
  for (auto& n : nodes_) refused += n.node->refused_items();
  EXPECT_GE(refused, 3u);
}

TEST_F(three_nodes, status_reports_peers_items_and_refusals) {
  ASSERT_GE(*nodes_[0].node->put_mutable(nodes_[0].key_pem, "s", "v", 1), 1);
  ASSERT_TRUE(eventually([&] { return nodes_[1].node->live_peers(std::chrono::seconds(5)).size() == 2; }));
  static_membership members;
  members.add(site_info{"site-b", node_id_of_public_key(nodes_[1].public_key), {}});
  memory_replica_store store;
  store.put_record(record{"lfn", 1, "site-b", "p"});
  auto r = overlay_status(nodes_[1].node.get(), &members, nullptr, &store, 7);
  EXPECT_TRUE(r.dht_running);
  EXPECT_EQ(r.node_id, to_hex(node_id_of_public_key(nodes_[1].public_key)));
  EXPECT_EQ(r.roster_peers, 2u);
  EXPECT_EQ(r.live_peers, 2u);
  EXPECT_EQ(r.routing_table_size, 2u);
  EXPECT_EQ(r.roster_version, 7u);
  EXPECT_EQ(r.records_held, 1u);
  EXPECT_EQ(r.live_sites, std::vector<std::string>{"site-b"});
  std::size_t items = 0;
  for (auto& n : nodes_) items += n.node->stored_items();
  EXPECT_GE(items, 1u);
  auto empty = overlay_status(nullptr, nullptr, nullptr, nullptr, 0);
  EXPECT_FALSE(empty.dht_running);
}

TEST_F(three_nodes, a_site_removed_from_the_roster_is_cut_off) {
  auto removed = std::vector<overlay_node*>{members_[0], members_[1]};
  for (auto* n : removed) ASSERT_TRUE(n->node->set_roster(peers_of(removed), keys_of(removed)).ok());
  auto put = nodes_[2].node->put_mutable(nodes_[2].key_pem, "x", "v", 1);
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(*put, 0);
  EXPECT_GT(nodes_[0].node->refused_queries() + nodes_[1].node->refused_queries(), 0u);
}

TEST(overlay_restart, keeps_its_node_id_and_refills_its_table_from_saved_state) {
  test::temp_dir dir;
  overlay_settings s;
  s.state_file = dir / "dht-state";
  auto a = start_node(6, s);
  auto b = start_node(7);
  auto c = start_node(8);
  ASSERT_TRUE(a.node && b.node && c.node);
  std::vector<overlay_node*> all{&a, &b, &c};
  for (auto* n : all) ASSERT_TRUE(n->node->set_roster(peers_of(all), keys_of(all)).ok());
  ASSERT_TRUE(eventually([&] { return a.node->routing_table_size() >= 2; }));
  auto id = a.node->node_id_hex();
  auto port = a.node->listen_port();
  a.node.reset();  // saves the state
  ASSERT_TRUE(std::filesystem::exists(s.state_file));
  s.listen_address = a.address;
  s.listen_port = port;  // same endpoint: the others still admit it
  auto again = overlay::start(s, a.public_key);
  ASSERT_TRUE(again.ok()) << again.err().to_string();
  EXPECT_EQ((*again)->node_id_hex(), id);
  // No set_roster: the saved nodes alone refill the table.
  EXPECT_TRUE(eventually([&] { return (*again)->routing_table_size() >= 2; }));
}

TEST(overlay_restart, stored_items_survive_a_restart) {
  test::temp_dir dir;
  auto a = start_node(9);
  auto b = start_node(10);
  ASSERT_TRUE(a.node && b.node);
  std::vector<overlay_node*> both{&a, &b};
  std::uint16_t port_b = b.node->listen_port();
  {
    auto db = storage::database::open(dir / "db", std::string(32, 's'));
    ASSERT_TRUE(db.ok());
    overlay_settings s;
    s.listen_address = b.address;
    s.listen_port = port_b;
    b.node.reset();
    auto persistent = overlay::start(s, b.public_key, db->get());
    ASSERT_TRUE(persistent.ok()) << persistent.err().to_string();
    b.node = std::move(*persistent);
    for (auto* n : both) ASSERT_TRUE(n->node->set_roster(peers_of(both), keys_of(both)).ok());
    ASSERT_TRUE(eventually([&] { return a.node->routing_table_size() >= 1; }));
    auto put = a.node->put_mutable(a.key_pem, "kept", "value", 7);
    ASSERT_TRUE(put.ok());
    ASSERT_GE(*put, 1);
    EXPECT_EQ(b.node->stored_items(), 1u);
    b.node.reset();  // flushes the writer
  }
  auto db = storage::database::open(dir / "db", std::string(32, 's'));
  ASSERT_TRUE(db.ok());
  overlay_settings s;
  s.listen_address = b.address;
  s.listen_port = port_b;
  auto reopened = overlay::start(s, b.public_key, db->get());
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->stored_items(), 1u);
}

}  // namespace
}  // namespace dm2::dht
