// Retrieval's pieces without processes: the owner's bundle codec is strict, the multipart body
// holds each part whole, a released share opens only for its request and site, and gathered
// shares combine from any t distinct ones (fewer: unavailable, said plainly).
#include <gtest/gtest.h>

#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/seal.hpp"
#include "dm2/crypto/shares.hpp"
#include "dm2/dht/owned_keys.hpp"
#include "retrieval/multipart.hpp"
#include "retrieval/series_bundle.hpp"
#include "retrieval/share_release.hpp"

namespace dm2::node {
namespace {

TEST(series_bundle, round_trips_and_refuses_anything_else) {
  bundle_files files = {{"000000.dcm.dm2s", std::string("\0\1abc", 5)}, {"volume.nii.dm2s", ""}};
  auto bytes = encode_bundle(files);
  auto back = decode_bundle(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, files);
  EXPECT_TRUE(decode_bundle(encode_bundle({})).ok());
  EXPECT_EQ(decode_bundle(bytes + "x").err().code, errc::malformed_input);  // trailing bytes
  EXPECT_EQ(decode_bundle(bytes.substr(0, bytes.size() - 1)).err().code,
            errc::malformed_input);  // truncated
  EXPECT_EQ(decode_bundle("dm2b\x02" + bytes.substr(5)).err().code,
            errc::malformed_input);  // version
  EXPECT_EQ(decode_bundle(encode_bundle({{"../etc", "x"}})).err().code, errc::malformed_input);
  EXPECT_EQ(decode_bundle(encode_bundle({{"a/b", "x"}})).err().code, errc::malformed_input);
  EXPECT_EQ(decode_bundle(encode_bundle({{"", "x"}})).err().code, errc::malformed_input);
}

TEST(multipart_related, holds_every_part_whole_behind_a_boundary_found_in_none) {
  auto body = multipart_related({"DICM one", "two\r\n--x"}, "application/dicom");
  auto at = body.content_type.find("boundary=");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(body.content_type.rfind("multipart/related; type=\"application/dicom\"", 0), 0u);
  auto boundary = body.content_type.substr(at + 9);
  EXPECT_EQ(body.body,
            "--" + boundary +
                "\r\nContent-Type: application/dicom\r\nContent-Length: 8\r\n\r\nDICM one\r\n--" +
                boundary +
                "\r\nContent-Type: application/dicom\r\nContent-Length: 8\r\n\r\ntwo\r\n--x\r\n--" +
                boundary + "--\r\n");
}

TEST(share_release, opens_only_for_its_site_and_request) {
  auto site = *crypto::generate_private_key(crypto::key_type::x25519);
  auto other = *crypto::generate_private_key(crypto::key_type::x25519);
  const std::string lfn(32, 'a'), nonce(32, '1');
  auto sealed = seal_release(*crypto::raw_public_key(site), "share bytes", lfn, nonce);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(*open_release(site, *sealed, lfn, nonce), "share bytes");
  EXPECT_FALSE(open_release(site, *sealed, lfn, std::string(32, '2')).ok());
  EXPECT_FALSE(open_release(site, *sealed, std::string(32, 'b'), nonce).ok());
  EXPECT_FALSE(open_release(other, *sealed, lfn, nonce).ok());
}

TEST(share_release, any_t_distinct_gathered_shares_rebuild_the_key_and_fewer_are_unavailable) {
  auto k = dht::make_owned_key(std::string(32, 'c'), std::string(32, 'K'), 2, 3);
  ASSERT_TRUE(k.ok());
  dht::owned_key_source source("site-1", nullptr);
  source.add(*k);
  auto own = owner_share(*k);
  ASSERT_TRUE(own);
  EXPECT_EQ(crypto::inspect_share(*own)->index, 4);  // never one of the n placed shares
  auto s1 = *source.raw_share(k->key_id, 1), s3 = *source.raw_share(k->key_id, 3);
  EXPECT_EQ(*combine_gathered({*own, s3}), k->secret);
  EXPECT_EQ(*combine_gathered({s1, s1, "junk", s3}), k->secret);
  auto one = combine_gathered({*own, *own});
  ASSERT_FALSE(one.ok());
  EXPECT_EQ(one.err().code, errc::unavailable);
  EXPECT_NE(one.err().message.find("1 key share(s) reachable, 2 needed"), std::string::npos)
      << one.err().message;
  EXPECT_EQ(combine_gathered({}).err().code, errc::unavailable);
  auto stranger = dht::make_owned_key(std::string(32, 'c'), std::string(32, 'L'), 2, 3);
  EXPECT_EQ(combine_gathered({s1, *owner_share(*stranger)}).err().code, errc::integrity_failure);
  auto full = *k;
  full.count = 255;
  EXPECT_FALSE(owner_share(full));
}

}  // namespace
}  // namespace dm2::node
