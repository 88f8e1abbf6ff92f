// Retrieval's pieces without processes: the owner's bundle, streamed from its files, decodes
// back in any split and the decoder refuses every malformed bundle in any split; the hand-off
// between another owner's answer and the user's keeps its bound, and the user's answer starts
// before that owner has sent the rest (a refusal, a bad bundle, a cut each said where it
// belongs); the streamed answer holds each instance whole in its part (or
// the volume), announces its exact size, and stops at a file that does not open; a released
// share opens only for its request and site, and gathered shares combine from any t distinct ones
// (fewer: unavailable, said plainly). A series being re-assembled is read file by file as it is
// sealed, across its move into place, and its failure reaches every reader, mid-answer too. A
// volume sealed from memory opens to write_nifti's file and leaves no plaintext beside it.
#include <gtest/gtest.h>

#include "dm2/crypto/keys.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/crypto/seal.hpp"
#include "dm2/crypto/shares.hpp"
#include "dm2/crypto/stream.hpp"
#include "dm2/dht/owned_keys.hpp"
#include "dm2/pacs/volume.hpp"
#include "ingest/object_store.hpp"
#include "ingest/series_restoration.hpp"
#include "retrieval/series_answer.hpp"
#include "retrieval/owner_bundle.hpp"
#include "retrieval/series_bundle.hpp"
#include "retrieval/share_release.hpp"
#include "support/temp_dir.hpp"

#include <fstream>
#include <future>
#include <limits>
#include <random>
#include <thread>

namespace dm2::node {
namespace {

// Every piece of `source`, concatenated; the pieces' count in `pieces`.
result<std::string> drain(body_source& source, std::size_t* pieces = nullptr) {
  std::string body, piece;
  while (true) {
    auto more = source.next(piece);
    if (!more) return std::move(more).err();
    if (!*more) return body;
    body += piece;
    if (pieces) ++*pieces;
  }
}

object_store::stored_file write_file(const test::temp_dir& dir, const std::string& name, const std::string& bytes) {
  std::ofstream(dir / name, std::ios::binary) << bytes;
  return {name, dir / name, bytes.size(), {}};
}

// The bytes of a bundle of `files` (name, bytes), as an owner streams it.
std::string bundle_of(const test::temp_dir& dir, const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<object_store::stored_file> stored;
  for (const auto& [name, bytes] : files) stored.push_back(write_file(dir, name, bytes));
  bundle_stream stream(stored);
  auto bytes = drain(stream);
  EXPECT_TRUE(bytes);
  return bytes ? *bytes : std::string();
}

// What a decoder makes of `bytes` fed in pieces of `piece_size()` bytes: its directory and each
// file's bytes, or its first error.
struct decoded {
  std::vector<bundle_entry> directory;
  std::vector<std::string> files;
  bool operator==(const decoded&) const = default;
};
result<decoded> decode(std::string_view bytes, const std::function<std::size_t()>& piece_size) {
  decoded out;
  bool listed = false;
  std::size_t last = 0;
  bundle_decoder decoder(
      [&](const std::vector<bundle_entry>& files) -> status {
        EXPECT_FALSE(listed);  // once
        listed = true;
        out.directory = files;
        out.files.resize(files.size());
        return {};
      },
      [&](std::size_t file, std::string_view piece) -> status {
        EXPECT_TRUE(listed);
        EXPECT_FALSE(piece.empty());
        EXPECT_GE(file, last);  // in order
        last = file;
        out.files.at(file).append(piece);
        return {};
      });
  while (!bytes.empty()) {
    auto n = std::min(bytes.size(), piece_size());
    if (auto s = decoder.feed(bytes.substr(0, n)); !s) return std::move(s).err();
    bytes.remove_prefix(n);
  }
  if (auto s = decoder.finish(); !s) return std::move(s).err();
  return out;
}

// Whole, a byte at a time, and in random pieces (small ones, and up to a few entries' worth).
std::vector<std::function<std::size_t()>> splits() {
  auto random = std::make_shared<std::mt19937>(20261204);
  return {[] { return std::numeric_limits<std::size_t>::max(); },
          [] { return std::size_t{1}; },
          [random] { return std::uniform_int_distribution<std::size_t>(1, 7)(*random); },
          [random] { return std::uniform_int_distribution<std::size_t>(1, 300)(*random); }};
}

std::string be(std::uint64_t v, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

// A directory entry as the format writes it.
std::string entry(const std::string& name, std::uint64_t size) { return be(name.size(), 2) + name + be(size, 8); }

TEST(series_bundle, streams_the_directory_then_each_file_and_decodes_back_in_any_split) {
  test::temp_dir dir("dm2-bundle");
  const std::vector<std::pair<std::string, std::string>> files = {
      {"000000.dcm.dm2s", std::string("\0\1abc", 5)}, {"empty.dm2s", ""}, {"volume.nii.dm2s", std::string(700, 'v')}};
  std::vector<object_store::stored_file> stored;
  for (const auto& [name, bytes] : files) stored.push_back(write_file(dir, name, bytes));
  bundle_stream stream(stored);
  std::size_t pieces = 0;
  auto bytes = drain(stream, &pieces);
  ASSERT_TRUE(bytes) << bytes.err().message;
  EXPECT_EQ(pieces, 4u);  // the directory, then one piece per file
  EXPECT_EQ(bytes->size(), *stream.size());
  EXPECT_EQ(bytes->substr(0, 9), std::string("dm2b\x02\0\0\0\x03", 9));
  decoded expected{{{"000000.dcm.dm2s", 5}, {"empty.dm2s", 0}, {"volume.nii.dm2s", 700}},
                   {std::string("\0\1abc", 5), "", std::string(700, 'v')}};
  for (const auto& split : splits()) {
    auto back = decode(*bytes, split);
    ASSERT_TRUE(back) << back.err().message;
    EXPECT_EQ(*back, expected);
  }
  bundle_stream none({});
  auto empty = drain(none);
  ASSERT_TRUE(empty);
  for (const auto& split : splits()) EXPECT_EQ(decode(*empty, split)->directory.size(), 0u);
  // A file that changed size after it was listed does not go out short or long.
  stored[0].size = 4;
  bundle_stream changed(stored);
  EXPECT_EQ(drain(changed).err().code, errc::io_error);
}

TEST(series_bundle, the_decoder_refuses_every_malformed_bundle_whatever_the_split) {
  test::temp_dir dir("dm2-bundle-bad");
  auto valid = bundle_of(dir, {{"000000.dcm.dm2s", "abc"}, {"000001.dcm.dm2s", ""}, {"volume.nii.dm2s", "xyz"}});
  const std::string magic("dm2b\x02", 5);
  std::vector<std::pair<std::string, std::string>> bad = {
      {"not a bundle", "dm2x" + valid.substr(4)},
      {"version 1", std::string("dm2b\x01", 5) + valid.substr(5)},
      {"too many files", magic + be(100'001, 4)},
      {"trailing bytes", valid + "x"},
      {"sizes overflow", magic + be(2, 4) + entry("a", ~std::uint64_t{0}) + entry("b", 1)},
      {"truncated file", magic + be(1, 4) + entry("a", 4) + "abc"},
  };
  for (const auto& name : {std::string(), std::string("../etc"), std::string("a/b"), std::string(".hidden"),
                           std::string("A.dcm"), std::string("a b"), std::string(256, 'a')})
    bad.emplace_back("name '" + name.substr(0, 8) + "'", magic + be(1, 4) + entry(name, 1) + "x");
  // Cut anywhere, in the directory or in a file: every prefix is refused.
  for (std::size_t n = 0; n < valid.size(); ++n) bad.emplace_back("cut at " + std::to_string(n), valid.substr(0, n));
  for (const auto& [why, bytes] : bad)
    for (const auto& split : splits()) {
      auto got = decode(bytes, split);
      ASSERT_FALSE(got) << why;
      EXPECT_EQ(got.err().code, errc::malformed_input) << why;
    }
  EXPECT_TRUE(decode(magic + be(1, 4) + entry(std::string(255, 'a'), 1) + "x", splits()[1]));
}

TEST(sealed_handoff, hands_bytes_in_order_never_more_than_its_capacity_ahead) {
  constexpr std::size_t capacity = 64 * 1024, piece = 4096, pieces = 100;
  sealed_handoff handoff(capacity, std::chrono::seconds(30));
  std::size_t most_queued = 0;
  std::thread writer([&] {
    for (std::size_t i = 0; i < pieces; ++i) {
      EXPECT_TRUE(handoff.put(std::string(piece, static_cast<char>('a' + i % 26))));
      most_queued = std::max(most_queued, handoff.queued());
    }
    handoff.close({});
  });
  // One read larger than the capacity, then the rest in odd sizes: taken as it comes.
  std::string all, out;
  ASSERT_TRUE(handoff.take(out, 3 * capacity + 5));
  all += out;
  while (all.size() < piece * pieces) {
    ASSERT_TRUE(handoff.take(out, std::min<std::size_t>(777, piece * pieces - all.size())));
    all += out;
  }
  writer.join();
  for (std::size_t i = 0; i < pieces; ++i)
    ASSERT_EQ(all.substr(i * piece, piece), std::string(piece, static_cast<char>('a' + i % 26))) << i;
  EXPECT_LE(most_queued, capacity + piece);
  EXPECT_EQ(handoff.take(out, 1).err().code, errc::unavailable);  // ended: nothing more comes
}

TEST(sealed_handoff, a_cut_reaches_the_reader_and_a_gone_reader_stops_the_writer) {
  sealed_handoff cut(1024, std::chrono::seconds(30));
  ASSERT_TRUE(cut.put("abc"));
  cut.close(fail(errc::malformed_input, "the body stopped short"));
  std::string out;
  EXPECT_TRUE(cut.take(out, 2));  // what came before the cut is still taken
  EXPECT_EQ(out, "ab");
  auto short_one = cut.take(out, 2);
  ASSERT_FALSE(short_one);
  EXPECT_EQ(short_one.err().message, "the body stopped short");
  sealed_handoff gone(1024, std::chrono::seconds(30));
  gone.abandon();
  EXPECT_FALSE(gone.put("abc"));
  // A reader that takes nothing: the writer gives up after its patience (the job ends).
  sealed_handoff stalled(4, std::chrono::milliseconds(1));
  EXPECT_TRUE(stalled.put("abcd"));
  EXPECT_FALSE(stalled.put("e"));
}

class series_answer_test : public ::testing::Test {
 protected:
  const std::string key = std::string(32, 'k'), lfn = std::string(32, 'a');

  sealed_file seal(const std::string& name, const std::string& plain, std::size_t chunk = crypto::default_stream_chunk_size,
                   std::uint64_t version = 7) {
    auto sealed = crypto::stream_seal(key, plain, object_store::associated_data(lfn, version, name), chunk);
    EXPECT_TRUE(sealed);
    auto f = write_file(dir, name, *sealed);
    return {name, f.size, f.path, {}, {}};
  }

  test::temp_dir dir{"dm2-answer"};
};

TEST_F(series_answer_test, dicom_is_one_whole_instance_per_part_behind_one_random_boundary_with_its_size_announced) {
  std::vector<sealed_file> files = {seal("000000.dcm.dm2s", "DICM one"), seal("000001.dcm.dm2s", "two\r\n--x", 16)};
  auto answer = series_answer::open(key, lfn, 7, files, series_form::dicom, nullptr);
  ASSERT_TRUE(answer) << answer.err().message;
  auto ct = (*answer)->content_type();
  auto at = ct.find("boundary=");
  ASSERT_NE(at, std::string::npos);
  EXPECT_EQ(ct.rfind("multipart/related; type=\"application/dicom\"", 0), 0u);
  auto boundary = ct.substr(at + 9);
  EXPECT_EQ(boundary.size(), 4u + 32u);
  std::size_t pieces = 0;
  auto body = drain(**answer, &pieces);
  ASSERT_TRUE(body) << body.err().message;
  EXPECT_EQ(pieces, 2u);
  EXPECT_EQ(*body, "--" + boundary + "\r\nContent-Type: application/dicom\r\nContent-Length: 8\r\n\r\nDICM one\r\n--" +
                       boundary + "\r\nContent-Type: application/dicom\r\nContent-Length: 8\r\n\r\ntwo\r\n--x\r\n--" +
                       boundary + "--\r\n");
  EXPECT_EQ(body->size(), *(*answer)->size());
  EXPECT_NE(multipart_framing::random("x").boundary, boundary);
}

TEST_F(series_answer_test, the_volume_goes_in_pieces_and_opens_whole) {
  std::string plain(3 * (1 << 20) + 12345, '\0');
  for (std::size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<char>(i * 131 >> 3);
  auto answer = series_answer::open(key, lfn, 7, {seal("volume.nii.dm2s", plain)}, series_form::nifti, nullptr);
  ASSERT_TRUE(answer) << answer.err().message;
  EXPECT_EQ((*answer)->content_type(), "application/octet-stream");
  EXPECT_EQ(*(*answer)->size(), plain.size());
  std::size_t pieces = 0;
  auto body = drain(**answer, &pieces);
  ASSERT_TRUE(body) << body.err().message;
  EXPECT_EQ(*body, plain);
  EXPECT_GE(pieces, 3u);
}

TEST_F(series_answer_test, a_file_that_does_not_open_ends_the_answer_and_a_damaged_size_is_refused_before_it_starts) {
  std::vector<sealed_file> files = {seal("000000.dcm.dm2s", "first"), seal("000001.dcm.dm2s", "second", 64, 8)};
  bool ended = false;
  auto answer = series_answer::open(key, lfn, 7, files, series_form::dicom, [&](std::size_t, std::uint64_t) { ended = true; });
  ASSERT_TRUE(answer);
  std::string piece;
  EXPECT_TRUE((*answer)->next(piece).ok());  // the first instance opens
  auto second = (*answer)->next(piece);       // sealed for another version: refused
  ASSERT_FALSE(second);
  EXPECT_EQ(second.err().code, errc::integrity_failure);
  EXPECT_TRUE(piece.empty());
  EXPECT_FALSE(ended);
  auto wrong_key = series_answer::open(std::string(32, 'w'), lfn, 7, {files[0]}, series_form::dicom, nullptr);
  ASSERT_TRUE(wrong_key);
  EXPECT_EQ((*wrong_key)->next(piece).err().code, errc::integrity_failure);
  // Truncated: one byte short opens nothing; shorter than a header and a tag is refused at once.
  auto cut = files[0];
  std::filesystem::resize_file(cut.path, --cut.size);
  auto short_one = series_answer::open(key, lfn, 7, {cut}, series_form::dicom, nullptr);
  ASSERT_TRUE(short_one);
  EXPECT_EQ((*short_one)->next(piece).err().code, errc::integrity_failure);
  std::filesystem::resize_file(cut.path, cut.size = 40);
  EXPECT_EQ(series_answer::open(key, lfn, 7, {cut}, series_form::dicom, nullptr).err().code, errc::integrity_failure);
  EXPECT_EQ(series_answer::open(key, lfn, 7, {}, series_form::dicom, nullptr).err().code, errc::not_found);
}

// The home site's side of another owner's answer (owner_bundle), fed as the HTTPS client's
// streamed mode feeds it, and the user's answer reading its files through the hand-off.
class owner_bundle_test : public series_answer_test {
 protected:
  static client_response head(int status = 200) {
    client_response h;
    h.status = status;
    if (status == 200) h.headers["dm2-series-version"] = "7";
    return h;
  }
  // The bundle of these sealed files, as their owner streams it.
  static std::string bundle(const std::vector<sealed_file>& files) {
    std::vector<object_store::stored_file> stored;
    for (const auto& f : files) stored.push_back({f.name, f.path, f.size, {}});
    bundle_stream stream(stored);
    return *drain(stream);
  }
  static result<std::shared_ptr<series_answer>> answer_over(const owner_listing& listed, std::shared_ptr<sealed_handoff> h,
                                                            series_form form = series_form::dicom) {
    std::vector<sealed_file> files;
    for (const auto& f : listed.files) files.push_back({f.name, f.size, {}, {}, h});
    return series_answer::open(std::string(32, 'k'), std::string(32, 'a'), 7, files, form, nullptr);
  }
  static std::shared_ptr<sealed_handoff> handoff(std::size_t capacity = 1 << 20) {
    return std::make_shared<sealed_handoff>(capacity, std::chrono::seconds(30));
  }
};

// The property the streamed reading gives: the user's first part goes out while the owner has
// not sent the rest of its series (before, the home site read the owner's whole bundle first).
TEST_F(owner_bundle_test, the_users_answer_starts_before_the_owner_has_sent_the_rest) {
  std::vector<sealed_file> sealed = {seal("000000.dcm.dm2s", "DICM one"), seal("000001.dcm.dm2s", "DICM two")};
  auto bytes = bundle(sealed);
  auto first_end = bytes.size() - sealed[1].size;  // the directory and the first file
  auto h = handoff();
  owner_bundle reading(series_form::dicom, h);
  ASSERT_TRUE(reading.take(head(), bytes.substr(0, first_end)));
  auto listed = reading.listing();
  ASSERT_TRUE(listed) << listed.err().message;
  EXPECT_EQ(listed->head.headers["dm2-series-version"], "7");
  EXPECT_EQ(listed->files, (std::vector<bundle_entry>{{"000000.dcm.dm2s", sealed[0].size}, {"000001.dcm.dm2s", sealed[1].size}}));
  auto answer = answer_over(*listed, h);
  ASSERT_TRUE(answer) << answer.err().message;
  EXPECT_EQ((*answer)->parts(), 2u);
  std::string piece, body;
  ASSERT_TRUE((*answer)->next(piece));
  EXPECT_NE(piece.find("\r\n\r\nDICM one\r\n"), std::string::npos);
  body += piece;
  ASSERT_TRUE(reading.take(head(), bytes.substr(first_end)));  // the owner sends the rest
  EXPECT_TRUE(reading.finish(head()));
  auto more = (*answer)->next(piece);
  ASSERT_TRUE(more && *more);
  EXPECT_NE(piece.find("\r\n\r\nDICM two\r\n"), std::string::npos);
  body += piece;
  EXPECT_FALSE(*(*answer)->next(piece));
  EXPECT_EQ(body.size(), *(*answer)->size());
}

// The volume, larger than the hand-off, streams through it in blocks as a reading thread feeds it.
TEST_F(owner_bundle_test, a_volume_larger_than_the_handoff_streams_through_it) {
  std::string plain(3 * (1 << 20) + 4321, '\0');
  for (std::size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<char>(i * 7 >> 5);
  auto bytes = bundle({seal(object_store::volume_name, plain)});
  auto h = handoff(256 * 1024);
  owner_bundle reading(series_form::nifti, h);
  std::thread owner([&] {
    for (std::size_t at = 0; at < bytes.size(); at += 100'000)
      ASSERT_TRUE(reading.take(head(), std::string_view(bytes).substr(at, 100'000)));
    EXPECT_TRUE(reading.finish(head()));
  });
  auto listed = reading.listing();
  ASSERT_TRUE(listed);
  auto answer = answer_over(*listed, h, series_form::nifti);
  ASSERT_TRUE(answer) << answer.err().message;
  auto body = drain(**answer);
  owner.join();
  ASSERT_TRUE(body) << body.err().message;
  EXPECT_TRUE(*body == plain);
}

TEST_F(owner_bundle_test, refusals_and_bad_bundles_are_known_before_the_answer_and_a_cut_ends_it_short) {
  std::vector<sealed_file> sealed = {seal("000000.dcm.dm2s", "DICM one"), seal("000001.dcm.dm2s", "DICM two")};
  auto bytes = bundle(sealed);
  auto first_end = bytes.size() - sealed[1].size;
  {  // The owner refuses: its status and message, for the user's clear error.
    owner_bundle reading(series_form::dicom, handoff());
    auto refused = head(403);
    ASSERT_TRUE(reading.take(refused, R"({"error":{"message":"not allowed: grant"}})"));
    EXPECT_TRUE(reading.finish(refused));
    auto listed = reading.listing();
    ASSERT_TRUE(listed);
    EXPECT_EQ(listed->head.status, 403);
    EXPECT_EQ(listed->head.body, R"({"error":{"message":"not allowed: grant"}})");
    EXPECT_TRUE(listed->files.empty());
  }
  {  // No answer at all: unavailable, the request's reason kept.
    owner_bundle reading(series_form::dicom, handoff());
    EXPECT_TRUE(reading.finish(fail(errc::timeout, "connect to 10.0.0.1:8443: timed out")));
    auto listed = reading.listing();
    ASSERT_FALSE(listed);
    EXPECT_EQ(listed.err().code, errc::unavailable);
    EXPECT_NE(listed.err().message.find("timed out"), std::string::npos);
  }
  // A 200 that is no bundle, one naming the volume to a dicom answer, one that ends in its
  // directory, and an empty one: malformed, before any answer.
  auto with_volume = bundle({sealed[0], seal(object_store::volume_name, "voxels")});
  for (const auto& body : {std::string("not a bundle at all"), with_volume, bytes.substr(0, 20), std::string()}) {
    owner_bundle reading(series_form::dicom, handoff());
    auto fed = body.empty() ? status{} : reading.take(head(), body);
    EXPECT_TRUE(reading.finish(fed ? result<client_response>(head()) : result<client_response>(fed.err())));
    auto listed = reading.listing();
    ASSERT_FALSE(listed);
    EXPECT_EQ(listed.err().code, errc::malformed_input) << listed.err().message;
  }
  {  // A directory listing an instance over 1 GiB (each is opened whole in memory): too large,
     // before a byte of it is taken.
    std::string name = "000000.dcm.dm2s", huge("dm2b\x02\0\0\0\x01\0", 10);
    huge += static_cast<char>(name.size());
    huge += name;
    const std::uint64_t size = (std::uint64_t{1} << 30) + 1;
    for (int shift = 56; shift >= 0; shift -= 8) huge += static_cast<char>(size >> shift & 0xff);
    owner_bundle reading(series_form::dicom, handoff());
    auto fed = reading.take(head(), huge);
    EXPECT_FALSE(fed);
    EXPECT_TRUE(reading.finish(fed.err()));
    auto listed = reading.listing();
    ASSERT_FALSE(listed);
    EXPECT_EQ(listed.err().code, errc::too_large) << listed.err().message;
  }
  {  // Cut after the first file: the answer ends short, the cut is returned for the log.
    auto h = handoff();
    owner_bundle reading(series_form::dicom, h);
    ASSERT_TRUE(reading.take(head(), bytes.substr(0, first_end + 3)));
    auto answer = answer_over(*reading.listing(), h);
    ASSERT_TRUE(answer);
    std::string piece;
    ASSERT_TRUE((*answer)->next(piece));
    auto cut = reading.finish(fail(errc::malformed_input, "incomplete HTTP response: the body stopped short"));
    ASSERT_FALSE(cut);
    auto second = (*answer)->next(piece);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.err().code, errc::malformed_input);
    EXPECT_TRUE(piece.empty());
  }
  {  // Bytes past the bundle's end: refused, returned for the log.
    owner_bundle reading(series_form::dicom, handoff());
    ASSERT_TRUE(reading.take(head(), bytes));
    auto extra = reading.take(head(), "x");
    ASSERT_FALSE(extra);
    EXPECT_FALSE(reading.finish(extra.err()));
  }
  {  // The user's answer dropped: the reading stops at its next piece, nothing to log.
    auto h = handoff();
    owner_bundle reading(series_form::dicom, h);
    ASSERT_TRUE(reading.take(head(), bytes.substr(0, first_end)));
    ASSERT_TRUE(reading.listing());
    h->abandon();
    auto next = reading.take(head(), bytes.substr(first_end));
    ASSERT_FALSE(next);
    EXPECT_TRUE(reading.finish(next.err()));
  }
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

class series_restoration_test : public series_answer_test {
 protected:
  // A restoration of two instances ("first", "second") and a volume, at version 7.
  std::shared_ptr<series_restoration> two_instances() {
    series_manifest m{{{"1.2.3.1", 5}, {"1.2.3.2", 6}}, 3};
    auto r = std::make_shared<series_restoration>(7, m);
    std::filesystem::create_directories(dir / "staging");
    r->staging_at(dir / "staging");
    return r;
  }
  // Seals `plain` as `name` into the staging directory and tells `r`.
  void seal_into_staging(series_restoration& r, const std::string& name, const std::string& plain) {
    auto sealed = crypto::stream_seal(key, plain, object_store::associated_data(lfn, 7, name));
    std::ofstream(dir / "staging" / name, std::ios::binary) << *sealed;
    r.sealed(name);
  }
};

TEST_F(series_restoration_test, the_answer_reads_each_file_once_sealed_and_across_the_move_into_place) {
  auto r = two_instances();
  auto files = r->files();
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].name, "000000.dcm.dm2s");
  EXPECT_EQ(files[1].size, crypto::sealed_stream_size(6));
  EXPECT_EQ(files[2].name, object_store::volume_name);
  std::vector<sealed_file> instances;
  for (std::size_t i = 0; i < 2; ++i) instances.push_back({files[i].name, files[i].size, {}, files[i].open_when_sealed, {}});
  auto answer = series_answer::open(key, lfn, 7, instances, series_form::dicom, nullptr);
  ASSERT_TRUE(answer) << answer.err().message;  // sizes known before any file exists
  auto body = std::async(std::launch::async, [&] { return drain(**answer); });
  EXPECT_EQ(body.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);  // waits for the first
  seal_into_staging(*r, "000000.dcm.dm2s", "first");
  ASSERT_TRUE(r->started());
  // The series placed before the second instance is read: read from its new place.
  seal_into_staging(*r, "000001.dcm.dm2s", "second");
  ASSERT_TRUE(r->place([&]() -> result<std::filesystem::path> {
    std::filesystem::rename(dir / "staging", dir / "placed");
    return dir / "placed";
  }));
  auto got = body.get();
  ASSERT_TRUE(got) << got.err().message;
  EXPECT_NE(got->find("\r\n\r\nfirst\r\n"), std::string::npos);
  EXPECT_NE(got->find("\r\n\r\nsecond\r\n"), std::string::npos);
  EXPECT_EQ(got->size(), *(*answer)->size());
  EXPECT_EQ(*r->finished(), 7u);
  EXPECT_EQ(r->open_when_sealed("000009.dcm.dm2s").err().code, errc::not_found);
}

TEST_F(series_restoration_test, a_failure_mid_way_ends_the_answer_with_an_error_and_wakes_every_reader) {
  auto r = two_instances();
  auto files = r->files();
  std::vector<sealed_file> instances;
  for (std::size_t i = 0; i < 2; ++i) instances.push_back({files[i].name, files[i].size, {}, files[i].open_when_sealed, {}});
  auto answer = series_answer::open(key, lfn, 7, instances, series_form::dicom, nullptr);
  ASSERT_TRUE(answer);
  seal_into_staging(*r, "000000.dcm.dm2s", "first");
  std::string piece;
  ASSERT_TRUE((*answer)->next(piece));  // the first instance goes out
  auto waiting = std::async(std::launch::async, [&] { return r->finished(); });
  r->failed(fail(errc::conflict, "the PACS holds other instances"));
  auto second = (*answer)->next(piece);  // never a shorter series taken for the whole
  ASSERT_FALSE(second);
  EXPECT_EQ(second.err().code, errc::conflict);
  EXPECT_EQ(waiting.get().err().code, errc::conflict);
  EXPECT_EQ(r->started().err().code, errc::conflict);
  // A file whose size is not the manifest's: the answer stops there too.
  auto sized = two_instances();
  seal_into_staging(*sized, "000000.dcm.dm2s", "first, but longer");
  auto wrong = series_answer::open(key, lfn, 7, {{files[0].name, files[0].size, {}, sized->files()[0].open_when_sealed, {}}},
                                   series_form::dicom, nullptr);
  ASSERT_TRUE(wrong);
  EXPECT_FALSE((*wrong)->next(piece));
}

// A re-assembled (or ingested) volume is sealed from memory: its NIfTI header and the voxels in
// place, in 1 MiB blocks. Opened, it is write_nifti's file byte for byte; its sealed size is the
// stream format's for that many bytes; the staging directory holds the sealed file and nothing
// else (no plaintext volume on disk); a name already there is refused.
TEST(object_store, a_volume_sealed_from_memory_opens_to_the_nifti_file_and_leaves_no_plaintext) {
  test::temp_dir dir{"dm2-volume-seal"};
  pacs::volume v;
  v.dims = {96, 80, 40};  // 1.2 MB of voxels: more than one block
  v.spacing = {0.8, 0.8, 2.5};
  v.affine_ras = {-0.8, 0, 0, 10, 0, -0.8, 0, 20, 0, 0, 2.5, -30, 0, 0, 0, 1};
  v.voxels.resize(v.dims[0] * v.dims[1] * v.dims[2]);
  for (std::size_t i = 0; i < v.voxels.size(); ++i) v.voxels[i] = static_cast<float>(i % 4093) - 1000.5f;
  auto reference = dir / "reference.nii";
  ASSERT_TRUE(pacs::write_nifti(v, reference));
  std::ifstream in(reference, std::ios::binary);
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  auto store = object_store::open(dir / "objects");
  ASSERT_TRUE(store);
  auto staged = store->stage();
  ASSERT_TRUE(staged);
  const std::string key(32, 'v'), lfn(32, 'b');
  auto header = pacs::nifti_header(v);
  ASSERT_TRUE(header);
  ASSERT_TRUE(store->seal_bytes_into(*staged, object_store::volume_name, key, lfn, 3, {*header, pacs::voxel_bytes(v)}));
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(staged->dir)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{object_store::volume_name});
  auto sealed_path = staged->dir / object_store::volume_name;
  EXPECT_EQ(std::filesystem::file_size(sealed_path), crypto::sealed_stream_size(file.size()));
  EXPECT_EQ(staged->bytes, crypto::sealed_stream_size(file.size()));
  std::ifstream sealed_in(sealed_path, std::ios::binary);
  std::string sealed((std::istreambuf_iterator<char>(sealed_in)), std::istreambuf_iterator<char>());
  auto opened = crypto::stream_open(key, sealed, object_store::associated_data(lfn, 3, object_store::volume_name));
  ASSERT_TRUE(opened) << opened.err().to_string();
  EXPECT_TRUE(*opened == file);
  // Under another series' name it does not open; the same name twice is refused.
  EXPECT_FALSE(crypto::stream_open(key, sealed, object_store::associated_data(lfn, 4, object_store::volume_name)));
  EXPECT_EQ(store->seal_bytes_into(*staged, object_store::volume_name, key, lfn, 3, {*header}).err().code, errc::io_error);
}

}  // namespace
}  // namespace dm2::node
