// Hand-made KRPC datagrams against a real node: forged, replayed, oversized and malformed BEP44
// puts are refused with an error and change nothing stored. The sender binds a member's address
// (admission is by address), so these checks are the storage's and libtorrent's, not the plugin's.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <libtorrent/bdecode.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/entry.hpp>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <optional>

#include "dm2/crypto/signature.hpp"
#include "overlay_cluster.hpp"

namespace dm2::dht {
namespace {

namespace lt = libtorrent;
using testing::eventually;
using testing::overlay_node;

class udp_client {
 public:
  explicit udp_client(const std::string& address) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, address.c_str(), &a.sin_addr);
    bound_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    timeval tv{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~udp_client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool bound() const { return bound_; }
  // Sends `datagram` and returns the reply's bytes (nullopt on timeout).
  std::optional<std::string> exchange(const overlay_node& to, const std::string& datagram) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(to.node->listen_port());
    ::inet_pton(AF_INET, to.address.c_str(), &a.sin_addr);
    ::sendto(fd_, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a);
    char buf[2048];
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

std::string bencode(const lt::entry& e) {
  std::string out;
  lt::bencode(std::back_inserter(out), e);
  return out;
}

struct reply {
  std::string y;      // "r" or "e"
  int error = 0;      // KRPC error code when y == "e"
  std::string token;  // from a get
};

std::optional<reply> parse(const std::optional<std::string>& bytes) {
  if (!bytes) return std::nullopt;
  lt::error_code ec;
  auto n = lt::bdecode(lt::span<const char>(bytes->data(), static_cast<std::ptrdiff_t>(bytes->size())), ec);
  if (ec) return std::nullopt;
  reply r;
  r.y = std::string(n.dict_find_string_value("y"));
  if (auto e = n.dict_find_list("e"); e && e.list_size() > 0) r.error = static_cast<int>(e.list_int_value_at(0));
  if (auto body = n.dict_find_dict("r")) r.token = std::string(body.dict_find_string_value("token"));
  return r;
}

std::string target_of(const std::string& key, const std::string& salt) {
  std::string material = key + salt, out(20, '\0');
  SHA1(reinterpret_cast<const unsigned char*>(material.data()), material.size(),
       reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

lt::entry query(const std::string& q, lt::entry args) {
  args["id"] = std::string(20, 'x');
  lt::entry e;
  e["ro"] = 1;  // BEP43 read-only: keeps this test client out of routing tables
  e["t"] = "tt";
  e["y"] = "q";
  e["q"] = q;
  e["a"] = std::move(args);
  return e;
}

class krpc : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int host : {21, 22}) {
      overlay_settings s;
      s.items.max_value_bytes = 200;
      // A get here may wait on a traversal that never turns authoritative; it returns the best
      // copy seen when this runs out.
      s.request_timeout = std::chrono::seconds(2);
      nodes_.push_back(testing::start_node(host, s));
      ASSERT_TRUE(nodes_.back().node);
    }
    std::vector<overlay_node*> all{&nodes_[0], &nodes_[1]};
    for (auto* n : all) ASSERT_TRUE(n->node->set_roster(testing::peers_of(all), testing::keys_of(all)).ok());
    ASSERT_TRUE(eventually([&] { return nodes_[1].node->routing_table_size() >= 1; }));
  }
  // A put as a writer would send it; `sign_value` lets a test sign something else than `v`.
  std::string put(const std::string& token, const std::string& v, std::int64_t seq,
                  std::optional<std::string> signature = std::nullopt,
                  std::optional<std::string> sign_value = std::nullopt) {
    auto& w = nodes_[0];
    std::string bencoded_v = bencode(lt::entry(v));
    std::string signed_part = "3:seqi" + std::to_string(seq) + "e1:v" +
                              bencode(lt::entry(sign_value.value_or(v)));
    lt::entry a;
    a["k"] = w.public_key;
    a["seq"] = seq;
    a["sig"] = signature.value_or(*crypto::sign(w.key_pem, signed_part));
    a["token"] = token;
    a["v"] = lt::entry(v);
    return bencode(query("put", std::move(a)));
  }
  std::string token(udp_client& c) {
    lt::entry a;
    a["target"] = target_of(nodes_[0].public_key, "");
    auto r = parse(c.exchange(nodes_[1], bencode(query("get", std::move(a)))));
    return r ? r->token : std::string();
  }
  std::vector<overlay_node> nodes_;
};

TEST_F(krpc, a_well_formed_put_is_stored_then_forged_replayed_oversized_and_malformed_ones_are_refused) {
  udp_client c(nodes_[0].address);  // a member's address, another port
  ASSERT_TRUE(c.bound());
  auto tok = token(c);
  ASSERT_FALSE(tok.empty());

  // Control: the honest put is stored.
  auto ok = parse(c.exchange(nodes_[1], put(tok, "v2", 2)));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->y, "r");
  ASSERT_EQ(nodes_[1].node->stored_items(), 1u);

  // Forged: a signature of other bytes, and random bytes.
  auto forged = parse(c.exchange(nodes_[1], put(tok, "v3", 3, std::nullopt, std::string("other"))));
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->y, "e");
  auto garbage_sig = parse(c.exchange(nodes_[1], put(tok, "v3", 3, std::string(64, 's'))));
  ASSERT_TRUE(garbage_sig);
  EXPECT_EQ(garbage_sig->y, "e");

  // Replayed: a validly signed older version.
  auto replay = parse(c.exchange(nodes_[1], put(tok, "v1", 1)));
  ASSERT_TRUE(replay);
  EXPECT_EQ(replay->y, "e");

  // Oversized for this node's 200-byte limit, though validly signed.
  auto big = parse(c.exchange(nodes_[1], put(tok, std::string(300, 'b'), 4)));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->y, "e");

  // Malformed: an immutable put, a put with a short key, and bytes that are not bencoding.
  lt::entry immutable;
  immutable["token"] = tok;
  immutable["v"] = "x";
  EXPECT_EQ(parse(c.exchange(nodes_[1], bencode(query("put", immutable))))->y, "e");
  lt::entry short_key;
  short_key["k"] = "short";
  short_key["v"] = "x";
  short_key["token"] = tok;
  EXPECT_EQ(parse(c.exchange(nodes_[1], bencode(query("put", short_key))))->y, "e");
  c.exchange(nodes_[1], "d1:q3:puti1e");  // no answer expected

  // Nothing changed: still one item, still version 2, and the node still answers.
  EXPECT_EQ(nodes_[1].node->stored_items(), 1u);
  auto got = nodes_[0].node->get_mutable(nodes_[0].public_key, "");
  ASSERT_TRUE(got.ok()) << got.err().to_string();
  EXPECT_EQ(got->seq, 2);
  EXPECT_EQ(got->value, "v2");
  EXPECT_GE(nodes_[1].node->refused_items(), 3u);  // big, immutable, short key
}

}  // namespace
}  // namespace dm2::dht
