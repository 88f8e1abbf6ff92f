#include "dm2/dht/message_codec.hpp"

#include <gtest/gtest.h>

#include <random>

namespace dm2::dht {
namespace {

std::vector<message> samples() {
  return {
      digest_request{64, {{0, 1}, {63, ~0ull}}},
      digest_reply{{1, 2}, {{"lfn", 3, 4, "owner"}}},
      pull_request{{"a", "b", std::string(300, 'c')}},
      push_records{{{"lfn", 7, "site-a", std::string("\0bin\xff", 5)}}},
      share_inventory_request{{"k1", "k2"}},
      share_inventory_reply{{{"k1", 1}, {"k2", 3}}},
      push_shares{{{"k", 2, "o", "h", "sealed", 5, 3}}},
      drop_shares{{{"k", 2}}},
      query_request{"q1", "body", std::string(64, 's'), 123456789, {"site-a", "site-b"}, {}},
      query_answer{"q1", {{"lfn", "o", 0.75, "sum"}, {"l2", "o2", -1.5, ""}}, false},
      push_records{},
      repair_inventory_request{{"k1"}},
      repair_start{{"sess", "k", "o", 5, 3, 4, "target", {{"a", 1}, {"b", 2}, {"c", 3}}}},
      repair_piece{"sess", 2, std::string("\0piece\xff", 7)},
      repair_sum{{"sess", "k", "o", 5, 3, 4, "target", {{"a", 1}, {"b", 2}, {"c", 3}}}, 3, "sum"},
      subtree_request{"t1", "body", std::string(64, 's'), 5, "site-q", 42, {key_of("x"), 3}, 4800, {"site-z"},
                      {{key_of("y"), 160}}},
      subtree_answer{"t1", 42, {{"lfn", "o", 0.5, "sum", "site-s", std::string(64, 's')}}, 17, {{key_of("y"), 9}}, false},
  };
}

bool same(const message& a, const message& b) { return encode_message(a) == encode_message(b); }

TEST(message_codec, every_message_round_trips) {
  for (const auto& m : samples()) {
    auto bytes = encode_message(m);
    auto back = decode_message(bytes);
    ASSERT_TRUE(back.ok()) << message_name(m) << ": " << back.err().to_string();
    EXPECT_EQ(back->index(), m.index());
    EXPECT_TRUE(same(*back, m)) << message_name(m);
  }
  auto qa = std::get<query_answer>(*decode_message(encode_message(samples()[9])));
  EXPECT_EQ(qa.hits[0].score, 0.75);
  EXPECT_FALSE(qa.last);
  auto pr = std::get<push_records>(*decode_message(encode_message(samples()[3])));
  EXPECT_EQ(pr.records[0].payload, std::string("\0bin\xff", 5));
  // A relayed hit keeps who answered it and that site's signature.
  auto sa = std::get<subtree_answer>(*decode_message(encode_message(samples().back())));
  EXPECT_EQ(sa.hits[0].signer, "site-s");
  EXPECT_EQ(sa.hits[0].signature, std::string(64, 's'));
}

TEST(message_codec, a_restoring_flag_is_sent_only_when_set) {
  query_answer a{"q1", {}, true};
  auto plain = encode_message(a);
  a.restoring = true;
  auto flagged = encode_message(a);
  ASSERT_EQ(flagged.size(), plain.size() + 1);  // older peers still decode the usual answer
  EXPECT_TRUE(std::get<query_answer>(*decode_message(flagged)).restoring);
  EXPECT_FALSE(std::get<query_answer>(*decode_message(plain)).restoring);
  auto sent_false = flagged;
  sent_false.back() = '\0';  // one form per answer: a false flag is left out, not sent
  EXPECT_FALSE(decode_message(sent_false).ok());
}

TEST(message_codec, a_subtree_answers_restoring_list_is_sent_only_when_not_empty) {
  subtree_answer a{"t1", 1, {}, 0, {}};
  auto plain = encode_message(a);
  EXPECT_TRUE(std::get<subtree_answer>(*decode_message(plain)).restoring.empty());
  a.restoring = {{key_of("r"), 160}};
  auto listed = encode_message(a);
  ASSERT_GT(listed.size(), plain.size());  // older peers still decode the usual answer
  // (a cut before the optional list is the usual answer: the other fields are checked above)
  EXPECT_EQ(std::get<subtree_answer>(*decode_message(listed)).restoring, a.restoring);
  auto sent_empty = plain + std::string(4, '\0');  // one form per answer: an empty list is left out
  EXPECT_FALSE(decode_message(sent_empty).ok());
}

TEST(message_codec, a_subtree_requests_hop_is_sent_only_when_set_and_never_negative) {
  subtree_request q{"t1", "body", "sig", 5, "site-q", 1, {key_of("x"), 3}, 4800, {}, {}};
  auto plain = encode_message(q);
  EXPECT_EQ(std::get<subtree_request>(*decode_message(plain)).hop_ms, 0);
  q.hop_ms = 350;
  auto with_hop = encode_message(q);
  ASSERT_EQ(with_hop.size(), plain.size() + 8);  // older peers still decode the usual request
  EXPECT_EQ(std::get<subtree_request>(*decode_message(with_hop)).hop_ms, 350);
  EXPECT_FALSE(decode_message(plain + std::string(8, '\0')).ok());    // 0 is left out, not sent
  EXPECT_FALSE(decode_message(plain + std::string(8, '\xff')).ok());  // read as negative
}

TEST(message_codec, a_prefix_over_160_bits_or_with_a_short_id_is_refused) {
  auto bytes = encode_message(subtree_answer{"t1", 1, {}, 0, {{key_of("y"), 160}}});
  ASSERT_TRUE(decode_message(bytes).ok());
  // The prefix is the last field but the flag: its bit count, then its 20-byte id as a string.
  auto at = bytes.size() - 1 - 4 - 20 - 1;
  auto over = bytes;
  over[at] = static_cast<char>(161);
  EXPECT_FALSE(decode_message(over).ok());
  auto tree = std::get<subtree_answer>(*decode_message(bytes));
  EXPECT_EQ(tree.uncovered[0].bits, 160);
  EXPECT_EQ(tree.uncovered[0].id, key_of("y"));
}

// A hedge (issue 14) carries answer_for as an optional trailing list: a request without it (an
// older node's) still decodes, with answer_for empty.
TEST(message_codec, a_hedge_request_round_trips_and_a_plain_one_has_no_answer_for) {
  query_request hedge{"q1/hedge-0", "body", std::string(64, 's'), 5, {"a", "b", "c"}, {"b"}};
  auto back = decode_message(encode_message(hedge));
  ASSERT_TRUE(back.ok()) << back.err().to_string();
  EXPECT_EQ(std::get<query_request>(*back).answer_for, std::vector<std::string>{"b"});
  auto plain = decode_message(encode_message(samples()[8]));
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(std::get<query_request>(*plain).answer_for.empty());
  EXPECT_FALSE(decode_message(encode_message(hedge) + "x").ok());
}

TEST(message_codec, a_present_but_empty_answer_for_list_is_refused) {
  // Found by message_fuzz: the encoder leaves an empty list out, so accepting one sent as a
  // zero count would give one request two encodings.
  query_request plain{"q1", "body", std::string(64, 's'), 5, {"a"}, {}};
  auto bytes = encode_message(plain);
  bytes.append(4, '\0');  // a list of zero entries (u32 count)
  auto decoded = decode_message(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.err().code, errc::malformed_input);
}

TEST(message_codec, every_truncation_and_trailing_byte_is_refused) {
  for (const auto& m : samples()) {
    auto bytes = encode_message(m);
    for (std::size_t n = 0; n < bytes.size(); ++n)
      EXPECT_FALSE(decode_message(std::string_view(bytes).substr(0, n)).ok()) << message_name(m) << " cut at " << n;
    EXPECT_EQ(decode_message(bytes + "x").err().code, errc::malformed_input) << message_name(m);
  }
}

TEST(message_codec, bad_version_type_flag_and_limits_are_refused) {
  auto bytes = encode_message(samples()[9]);
  auto bad_version = bytes;
  bad_version[0] = 2;
  EXPECT_EQ(decode_message(bad_version).err().code, errc::malformed_input);
  auto bad_type = bytes;
  bad_type[1] = 42;
  EXPECT_EQ(decode_message(bad_type).err().code, errc::malformed_input);
  auto bad_flag = bytes;
  bad_flag.back() = 2;
  EXPECT_EQ(decode_message(bad_flag).err().code, errc::malformed_input);
  // A list count of 2^32-1 with nothing behind it must not allocate or loop.
  std::string huge_count = std::string("\x01\x02\xff\xff\xff\xff", 6);
  EXPECT_EQ(decode_message(huge_count).err().code, errc::malformed_input);
  codec_limits small;
  small.max_string_bytes = 10;
  EXPECT_EQ(decode_message(encode_message(samples()[2]), small).err().code, errc::malformed_input);
  small.max_message_bytes = 5;
  EXPECT_EQ(decode_message(bytes, small).err().code, errc::too_large);
}

TEST(message_codec, a_stored_key_share_round_trips_and_is_decoded_strictly) {
  key_share s{"key-1", 3, "site-a", "site-b", std::string("sealed\0bytes", 12)};
  auto bytes = encode_key_share(s);
  auto back = decode_key_share(bytes);
  ASSERT_TRUE(back.ok()) << back.err().message;
  EXPECT_EQ(back->key_id, s.key_id);
  EXPECT_EQ(back->index, 3u);
  EXPECT_EQ(back->holder, "site-b");
  EXPECT_EQ(back->sealed, s.sealed);
  for (std::size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(decode_key_share(bytes.substr(0, n)).ok()) << n;
  EXPECT_FALSE(decode_key_share(bytes + "x").ok());
  auto other_version = bytes;
  other_version[0] = 2;
  EXPECT_FALSE(decode_key_share(other_version).ok());
}

TEST(message_codec, random_bytes_never_crash) {
  std::mt19937 rng(5);
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 64, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    if (s.size() >= 2) {
      s[0] = 1;
      s[1] = static_cast<char>(rng() % 15);
    }
    auto r = decode_message(s);
    if (r.ok()) {
      EXPECT_EQ(encode_message(*r), s);  // anything accepted is canonical
    }
  }
}

}  // namespace
}  // namespace dm2::dht
