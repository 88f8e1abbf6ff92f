// The liveness probe schedule on real libtorrent sessions: with many roster entries the pings
// stay under overlay_settings::probe_rate, every entry is still probed, real peers stay live and
// a stopped peer goes dead within the liveness age.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <optional>
#include <thread>

#include "dm2/dht/overlay.hpp"
#include "dm2/dht/overlay_membership.hpp"
#include "dm2/dht/node_id.hpp"
#include "overlay_cluster.hpp"

namespace dm2::dht {
namespace {

using testing::eventually;
using testing::start_node;

// A UDP socket on its own loopback address that never answers: a roster entry whose site is down, and a
// counter of the datagrams the overlays send it (independent of overlay::pings_sent).
struct silent_peer {
  int fd = -1;
  std::uint16_t port = 0;
  explicit silent_peer(const std::string& address) {
    fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~silent_peer() {
    if (fd >= 0) ::close(fd);
  }
  silent_peer(const silent_peer&) = delete;
  silent_peer& operator=(const silent_peer&) = delete;
  // Sends `datagram` to 127.0.0.1-style `address`:`to_port`; the first response ("y":"r") within 2 s,
  // "" if none. The node's own queries to this roster entry (its pings, libtorrent's lookups) may
  // arrive first, and are skipped.
  std::string exchange(const std::string& address, std::uint16_t to_port, const std::string& datagram) const {
    drain();
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(to_port);
    ::inet_pton(AF_INET, address.c_str(), &to.sin_addr);
    ::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    char buf[2048];
    for (int i = 0; i < 200; ++i) {
      auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        std::string got(buf, static_cast<std::size_t>(n));
        if (got.find("1:y1:r") != std::string::npos) return got;
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return {};
  }
  // Datagrams received since the last call.
  int drain() const {
    char buf[2048];
    int n = 0;
    while (::recv(fd, buf, sizeof buf, 0) >= 0) ++n;
    return n;
  }
};

TEST(overlay_probe, rate_stays_bounded_with_many_roster_entries) {
  constexpr double rate = 20.0;
  constexpr int silent_count = 40;
  overlay_settings s;
  s.probe_rate = rate;
  std::vector<testing::overlay_node> nodes;
  for (int host = 2; host <= 4; ++host) {
    nodes.push_back(start_node(host, s));
    ASSERT_TRUE(nodes.back().node);
  }
  std::vector<std::unique_ptr<silent_peer>> silent;
  std::vector<dht_peer> roster;
  std::vector<std::string> keys;
  for (auto& n : nodes) {
    roster.push_back({n.address, n.node->listen_port()});
    keys.push_back(n.public_key);
  }
  for (int i = 0; i < silent_count; ++i) {
    auto address = "127.0.0." + std::to_string(100 + i);
    silent.push_back(std::make_unique<silent_peer>(address));
    ASSERT_NE(silent.back()->port, 0);
    roster.push_back({address, silent.back()->port});
  }
  for (auto& n : nodes) ASSERT_TRUE(n.node->set_roster(roster, keys).ok());

  // 42 other peers at 20/s: a cycle is 2.1 s, and the liveness age 3 cycles.
  auto cycle = nodes[0].node->probe_cycle();
  EXPECT_EQ(cycle, std::chrono::milliseconds(2100));
  auto max_age = 3 * cycle;
  for (auto& n : nodes)
    ASSERT_TRUE(eventually([&] { return n.node->live_peers(max_age).size() == 2; }, 2 * cycle))
        << n.address;

  for (auto& p : silent) p->drain();
  std::vector<std::uint64_t> before;
  for (auto& n : nodes) before.push_back(n.node->pings_sent());
  auto window = std::chrono::seconds(3);
  auto started = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(window);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    auto d = nodes[i].node->pings_sent() - before[i];
    EXPECT_LE(static_cast<double>(d), rate * seconds + 2) << nodes[i].address;
    EXPECT_GE(static_cast<double>(d), rate * seconds * 0.5) << nodes[i].address;  // it does probe
  }
  int received = 0;
  // (Measured before 2026-12-04: libtorrent 2.0.8 put one packet on the wire to each silent
  // entry, at set_roster, and none in this window although pings_sent counted them. Since the
  // pings carry an argument (the incarnation) they do reach the silent entries: one ASan run
  // counted 167 received for 162 sent, libtorrent's own lookups adding a few. Cause of the old
  // behaviour not investigated; the bound is what is asserted.)
  for (auto& p : silent) received += p->drain();
  // What the silent peers saw is bounded by the rate of all three nodes together.
  EXPECT_LE(static_cast<double>(received), 3 * (rate * seconds + 2));
  for (auto& n : nodes) EXPECT_EQ(n.node->live_peers(max_age).size(), 2u) << n.address;

  // A stopped node goes dead at its peers once max_age has passed since its last sign of life.
  auto stopped_at = std::chrono::steady_clock::now();
  nodes[2].node.reset();
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(eventually([&] { return nodes[i].node->live_peers(max_age).size() == 1; },
                           max_age + std::chrono::seconds(1)))
        << nodes[i].address;
  EXPECT_LE(std::chrono::steady_clock::now() - stopped_at, max_age + std::chrono::seconds(1));
  for (int i = 0; i < 2; ++i) EXPECT_EQ(nodes[i].node->live_peers(max_age).size(), 1u);
}

TEST(overlay_probe, cycle_is_the_interval_for_a_small_roster) {
  overlay_settings s;
  s.probe_rate = 20.0;
  auto n = start_node(5, s);
  ASSERT_TRUE(n.node);
  EXPECT_EQ(n.node->probe_cycle(), std::chrono::milliseconds(500));  // no peers yet
  std::vector<dht_peer> roster;
  for (std::uint16_t port = 1; port <= 5; ++port) roster.push_back({"127.0.0.61", port});
  ASSERT_TRUE(n.node->set_roster(roster, {}).ok());
  EXPECT_EQ(n.node->probe_cycle(), std::chrono::milliseconds(500));  // 5 / 20 s < 500 ms
  for (std::uint16_t port = 6; port <= 30; ++port) roster.push_back({"127.0.0.61", port});
  ASSERT_TRUE(n.node->set_roster(roster, {}).ok());
  EXPECT_EQ(n.node->probe_cycle(), std::chrono::milliseconds(1500));  // 30 / 20 s
}

// Incarnations travel with liveness: each node learns the other's from its pings and ping
// replies, and a node restarted on the same key and port, before its liveness expired, is seen
// with a new one; the membership view reports it as a change (version) with the new value.
TEST(overlay_probe, a_restarted_node_is_seen_with_a_new_incarnation_before_its_liveness_expires) {
  overlay_settings s;
  s.probe_rate = 20.0;
  auto a = start_node(8, s), b = start_node(9, s);
  ASSERT_TRUE(a.node && b.node);
  const auto b_port = b.node->listen_port();
  std::vector<dht_peer> roster{{a.address, a.node->listen_port()}, {b.address, b_port}};
  for (auto* n : {&a, &b}) ASSERT_TRUE(n->node->set_roster(roster, {a.public_key, b.public_key}).ok());
  const auto max_age = std::chrono::seconds(30);  // b never expires during the test
  auto incarnation_seen = [&](const testing::overlay_node& at) {
    auto live = at.node->live_peers(max_age);
    return live.size() == 1 ? live[0].incarnation : 0;
  };
  const auto b_first = b.node->incarnation();
  ASSERT_NE(b_first, 0u);
  ASSERT_NE(a.node->incarnation(), b_first);
  ASSERT_TRUE(eventually([&] { return incarnation_seen(a) == b_first; }, std::chrono::seconds(5)));
  ASSERT_TRUE(eventually([&] { return incarnation_seen(b) == a.node->incarnation(); }, std::chrono::seconds(5)));

  overlay_membership members(*a.node, "site-a", max_age);
  members.set_sites({{"site-a", node_id_of_public_key(a.public_key), {roster[0].to_string()}},
                     {"site-b", node_id_of_public_key(b.public_key), {roster[1].to_string()}}});
  auto b_in_view = [&] {
    for (const auto& site : members.live_sites())
      if (site.site_id == "site-b") return site.incarnation;
    return std::uint64_t{0};
  };
  EXPECT_EQ(b_in_view(), b_first);
  const auto version = members.version();

  b.node.reset();
  s.listen_address = b.address;
  s.listen_port = b_port;
  auto restarted = overlay::start(s, b.public_key);
  ASSERT_TRUE(restarted.ok()) << restarted.err().to_string();
  b.node = std::move(*restarted);
  ASSERT_TRUE(b.node->set_roster(roster, {a.public_key, b.public_key}).ok());
  const auto b_second = b.node->incarnation();
  ASSERT_NE(b_second, b_first);
  ASSERT_TRUE(eventually([&] { return incarnation_seen(a) == b_second; }, std::chrono::seconds(5)));
  members.refresh();
  EXPECT_EQ(b_in_view(), b_second);
  EXPECT_GT(members.version(), version);
  members.refresh();  // nothing new: no change reported
  EXPECT_EQ(members.version(), version + 1);
}

// A ping's "inc" is untrusted input: only a positive integer is taken (anything else leaves the
// last one known), and every ping reply carries this node's own.
TEST(overlay_probe, a_ping_incarnation_is_taken_only_when_a_positive_integer_and_replies_carry_ours) {
  auto n = start_node(10);
  ASSERT_TRUE(n.node);
  silent_peer member("127.0.0.11");
  ASSERT_NE(member.port, 0);
  ASSERT_TRUE(n.node->set_roster({{"127.0.0.11", member.port}}, {}).ok());
  const std::string ours = "3:inci" + std::to_string(n.node->incarnation()) + "e";
  auto ping = [&](const std::string& inc) {
    return member.exchange(n.address, n.node->listen_port(),
                           "d1:ad2:id20:abcdefghij0123456789" + inc + "e1:q4:ping1:t2:aa1:y1:qe");
  };
  auto seen = [&] {
    auto live = n.node->live_peers(std::chrono::seconds(30));
    return live.size() == 1 ? std::optional<std::uint64_t>(live[0].incarnation) : std::nullopt;
  };
  auto reply = ping("");  // an older member: no incarnation
  EXPECT_NE(reply.find(ours), std::string::npos) << reply;
  EXPECT_EQ(seen(), std::optional<std::uint64_t>(0));
  EXPECT_NE(ping("3:inci42e").find(ours), std::string::npos);
  EXPECT_EQ(seen(), std::optional<std::uint64_t>(42));
  for (const char* bad : {"3:inci-5e", "3:inci0e", "3:inc3:abc", "3:incle"}) {
    EXPECT_NE(ping(bad).find(ours), std::string::npos) << bad;
    EXPECT_EQ(seen(), std::optional<std::uint64_t>(42)) << bad;
  }
}

TEST(overlay_probe, non_positive_rate_is_refused) {
  overlay_settings s;
  s.listen_address = "127.0.0.1";
  s.listen_port = 0;
  s.probe_rate = 0;
  auto o = overlay::start(s, std::string(32, 'k'));
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.err().code, errc::invalid_argument);
}

}  // namespace
}  // namespace dm2::dht
