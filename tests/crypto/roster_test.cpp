#include "dm2/crypto/roster.hpp"

#include <gtest/gtest.h>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/signature.hpp"

namespace dm2::crypto {
namespace {

constexpr std::int64_t now = 1'800'000'000;

struct test_site {
  site_entry entry;
  std::string dht_private_pem;
};

test_site make_site(const std::string& id) {
  test_site s;
  s.dht_private_pem = *generate_private_key(key_type::ed25519);
  s.entry.site_id = id;
  s.entry.name = "Hôpital " + id;  // non-ASCII on purpose
  s.entry.certificate_sha256 = to_hex(random_bytes(32));
  s.entry.dht_public_key = *raw_public_key(s.dht_private_pem);
  s.entry.sealing_public_key = *raw_public_key(*generate_private_key(key_type::x25519));
  s.entry.https_endpoint = "192.0.2." + std::to_string(id.size()) + ":8443";
  s.entry.dht_endpoint = "[fd00::1]:6881";
  s.entry.expires_at = now + 86400;
  return s;
}

class roster_test : public ::testing::Test {
 protected:
  std::string consortium_key = *generate_private_key(key_type::ed25519);
  std::string consortium_pub = *raw_public_key(consortium_key);
  test_site a = make_site("site-a"), b = make_site("site-b"), c = make_site("site-c");

  roster make(std::uint64_t version, std::vector<site_entry> sites) const {
    return roster{"Test Consortium", version, now - 10, std::move(sites)};
  }
  std::string signed_doc(std::uint64_t version, std::vector<site_entry> sites) const {
    auto doc = sign_roster(make(version, std::move(sites)), consortium_key);
    EXPECT_TRUE(doc.ok()) << doc.err().to_string();
    return *doc;
  }
};

TEST_F(roster_test, round_trip_and_canonical_order) {
  // Given out of order, encoded sorted by site id: the hash does not depend on insertion order.
  auto r1 = make(1, {c.entry, a.entry, b.entry});
  auto r2 = make(1, {a.entry, b.entry, c.entry});
  auto body = encode_roster(r1);
  ASSERT_TRUE(body.ok()) << body.err().to_string();
  EXPECT_EQ(*body, *encode_roster(r2));
  EXPECT_EQ(*roster_hash(r1), *roster_hash(r2));
  EXPECT_EQ(body->rfind("{\"consortium\":\"Test Consortium\",\"issued_at\":", 0), 0u);  // sorted, no spaces
  EXPECT_NE(body->find("H\\u00f4pital"), std::string::npos);  // ASCII only
  auto decoded = decode_roster(*body);
  ASSERT_TRUE(decoded.ok()) << decoded.err().to_string();
  EXPECT_EQ(*decoded, r2);

  auto doc = signed_doc(1, {c.entry, a.entry, b.entry});
  auto verified = verify_roster(doc, consortium_pub);
  ASSERT_TRUE(verified.ok()) << verified.err().to_string();
  EXPECT_EQ(*verified, r2);
  EXPECT_EQ(doc.back(), '\n');
}

TEST_F(roster_test, every_changed_byte_of_a_signed_roster_is_refused) {
  auto doc = signed_doc(3, {a.entry, b.entry});
  for (size_t byte = 0; byte < doc.size(); ++byte)
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = doc;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      ASSERT_FALSE(verify_roster(bad, consortium_pub).ok()) << "byte " << byte << " bit " << bit;
    }
  EXPECT_FALSE(verify_roster(doc.substr(0, doc.size() - 1), consortium_pub).ok());
  EXPECT_FALSE(verify_roster(doc + "\n", consortium_pub).ok());
}

TEST_F(roster_test, wrong_key_and_unsigned_drafts_are_refused) {
  auto doc = signed_doc(1, {a.entry});
  auto other = *raw_public_key(*generate_private_key(key_type::ed25519));
  EXPECT_EQ(verify_roster(doc, other).err().code, errc::integrity_failure);
  auto draft = encode_roster_document({make(1, {a.entry}), ""});
  ASSERT_TRUE(draft.ok());
  EXPECT_TRUE(decode_roster_document(*draft).ok());
  EXPECT_EQ(verify_roster(*draft, consortium_pub).err().code, errc::integrity_failure);
  // A signature by a site key (not the consortium's) is refused.
  auto forged = sign_roster(make(1, {a.entry}), a.dht_private_pem);
  EXPECT_EQ(verify_roster(*forged, consortium_pub).err().code, errc::integrity_failure);
}

TEST_F(roster_test, versions_only_move_forward) {
  roster_state state(consortium_pub);
  EXPECT_EQ(state.version(), 0u);
  EXPECT_EQ(*state.accept(signed_doc(2, {a.entry, b.entry})), true);
  EXPECT_EQ(state.version(), 2u);
  auto hash = state.hash();

  auto downgrade = state.accept(signed_doc(1, {a.entry, b.entry, c.entry}));
  ASSERT_FALSE(downgrade.ok());
  EXPECT_EQ(downgrade.err().code, errc::stale_version);
  EXPECT_EQ(*state.accept(signed_doc(2, {b.entry, a.entry})), false);  // the same roster again
  auto fork = state.accept(signed_doc(2, {a.entry}));
  ASSERT_FALSE(fork.ok());
  EXPECT_EQ(fork.err().code, errc::conflict);
  EXPECT_EQ(state.version(), 2u);
  EXPECT_EQ(state.hash(), hash);  // nothing changed on refusal

  auto renamed = make(3, {a.entry});
  renamed.consortium = "Other";
  EXPECT_EQ(state.accept(*sign_roster(renamed, consortium_key)).err().code, errc::conflict);
  EXPECT_EQ(state.accept(signed_doc(0, {a.entry})).err().code, errc::invalid_argument);
  EXPECT_EQ(*state.accept(signed_doc(3, {a.entry, c.entry})), true);
  EXPECT_EQ(state.current()->sites.size(), 2u);
  EXPECT_EQ(*verify_roster(state.current_document(), consortium_pub), *state.current());
}

TEST_F(roster_test, a_removed_site_is_revoked) {
  roster_state state(consortium_pub);
  const std::string message = "dht item: locator for series 42";
  auto sig = *sign(b.dht_private_pem, message);
  EXPECT_EQ(state.verify_member_signature(b.entry.dht_public_key, message, sig, now).err().code,
            errc::permission_denied);  // no roster yet: everyone revoked

  ASSERT_TRUE(state.accept(signed_doc(1, {a.entry, b.entry})).ok());
  EXPECT_TRUE(state.verify_member_signature(b.entry.dht_public_key, message, sig, now).ok());
  EXPECT_EQ(state.verify_member_signature(b.entry.dht_public_key, message + "!", sig, now).err().code,
            errc::integrity_failure);
  EXPECT_TRUE(state.find_by_fingerprint(b.entry.certificate_sha256, now).ok());
  EXPECT_EQ(state.find_by_id("site-b", now)->name, b.entry.name);

  ASSERT_TRUE(state.accept(signed_doc(2, {a.entry})).ok());
  auto r = state.verify_member_signature(b.entry.dht_public_key, message, sig, now);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::permission_denied);
  EXPECT_EQ(state.find_by_fingerprint(b.entry.certificate_sha256, now).err().code, errc::permission_denied);
  EXPECT_EQ(state.find_by_dht_key(b.entry.dht_public_key, now).err().code, errc::permission_denied);
  EXPECT_EQ(state.find_by_id("site-b", now).err().code, errc::permission_denied);
  EXPECT_TRUE(state.find_by_id("site-a", now).ok());
}

TEST_F(roster_test, an_expired_entry_is_revoked) {
  auto r = make(1, {a.entry});
  EXPECT_TRUE(find_site_by_dht_key(r, a.entry.dht_public_key, a.entry.expires_at - 1).ok());
  EXPECT_EQ(find_site_by_dht_key(r, a.entry.dht_public_key, a.entry.expires_at).err().code,
            errc::permission_denied);
  auto sig = *sign(a.dht_private_pem, "m");
  EXPECT_EQ(verify_member_signature(r, a.entry.dht_public_key, "m", sig, a.entry.expires_at + 1).err().code,
            errc::permission_denied);
}

TEST_F(roster_test, encoder_refuses_bad_entries) {
  auto expect_bad = [&](auto change, const char* what) {
    auto e = a.entry;
    change(e);
    auto r = encode_roster(make(1, {e}));
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.err().code, errc::invalid_argument) << what;
  };
  expect_bad([](site_entry& e) { e.site_id = ""; }, "empty id");
  expect_bad([](site_entry& e) { e.site_id = "Upper"; }, "upper-case id");
  expect_bad([](site_entry& e) { e.site_id = std::string(65, 'a'); }, "long id");
  expect_bad([](site_entry& e) { e.name = "tab\there"; }, "control character");
  expect_bad([](site_entry& e) { e.name = std::string(129, 'n'); }, "long name");
  expect_bad([](site_entry& e) { e.name = "\xff\xfe"; }, "invalid UTF-8");
  expect_bad([](site_entry& e) { e.certificate_sha256 = std::string(64, 'A'); }, "upper-case hex");
  expect_bad([](site_entry& e) { e.dht_public_key.pop_back(); }, "short key");
  expect_bad([](site_entry& e) { e.https_endpoint = "192.0.2.1"; }, "no port");
  expect_bad([](site_entry& e) { e.https_endpoint = "192.0.2.1:65536"; }, "port too big");
  expect_bad([](site_entry& e) { e.https_endpoint = "site.example.org:443"; }, "a host name");
  expect_bad([](site_entry& e) { e.dht_endpoint = "fd00::1:6881"; }, "IPv6 without brackets");
  expect_bad([](site_entry& e) { e.expires_at = 0; }, "no expiry");
  expect_bad([](site_entry& e) { e.sealing_public_key = e.dht_public_key; }, "one key twice");

  auto dup = b.entry;
  dup.site_id = a.entry.site_id;
  EXPECT_EQ(encode_roster(make(1, {a.entry, dup})).err().code, errc::invalid_argument);
  dup = b.entry;
  dup.certificate_sha256 = a.entry.certificate_sha256;
  EXPECT_EQ(encode_roster(make(1, {a.entry, dup})).err().code, errc::invalid_argument);
  dup = b.entry;
  dup.dht_public_key = a.entry.dht_public_key;
  EXPECT_EQ(encode_roster(make(1, {a.entry, dup})).err().code, errc::invalid_argument);
  std::vector<site_entry> many;
  for (size_t i = 0; i <= max_roster_sites; ++i) {
    auto e = a.entry;
    e.site_id = "s" + std::to_string(i);
    e.certificate_sha256 = to_hex(sha256(e.site_id));
    e.dht_public_key = sha256("d" + e.site_id);
    e.sealing_public_key = sha256("s" + e.site_id);
    many.push_back(e);
  }
  EXPECT_EQ(encode_roster(make(1, many)).err().code, errc::invalid_argument);
  many.pop_back();
  EXPECT_TRUE(encode_roster(make(1, many)).ok());
}

TEST_F(roster_test, decoder_refuses_non_canonical_or_strange_input) {
  auto body = *encode_roster(make(1, {a.entry, b.entry}));
  auto expect_malformed = [&](const std::string& text, const char* what) {
    auto r = decode_roster(text);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.err().code, errc::malformed_input) << what << ": " << r.err().to_string();
  };
  auto replaced = [&](std::string from, std::string to) {
    auto s = body;
    auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  expect_malformed(replaced("{", "{ "), "a space");
  expect_malformed(replaced("\"version\":1", "\"version\":1.0"), "a float version");
  expect_malformed(replaced("\"version\":1", "\"version\":-1"), "a negative version");
  expect_malformed(replaced("\"version\":1", "\"version\":\"1\""), "a string version");
  expect_malformed(replaced("\"site_id\":\"site-b\"", "\"site_id\":\"site-a\""), "duplicate id");
  expect_malformed(replaced("{\"certificate_sha256\"", "{\"extra\":1,\"certificate_sha256\""),
                   "unknown field");
  expect_malformed(replaced("\"version\":1", "\"version\":1,\"version\":1"), "repeated key");
  expect_malformed(replaced("H\\u00f4pital", "H\xc3\xb4pital"), "raw UTF-8 instead of escape");
  expect_malformed(replaced("\"site_id\":\"site-a\"", "\"site_id\":\"site-z\""), "sites unsorted");
  expect_malformed(body.substr(0, body.size() - 1), "truncated");
  expect_malformed("[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]", "deep nesting");
  expect_malformed("", "empty");
  expect_malformed("null", "null");
  EXPECT_EQ(decode_roster(std::string(max_roster_document_size + 1, ' ')).err().code, errc::too_large);
  EXPECT_EQ(decode_roster_document("{\"roster\":1}").err().code, errc::malformed_input);
}

}  // namespace
}  // namespace dm2::crypto
