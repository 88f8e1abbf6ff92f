// Retrieval's pieces without processes: the owner's bundle, streamed from its files, decodes
// back and the decoder is strict; the streamed answer holds each instance whole in its part (or
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
#include "retrieval/series_bundle.hpp"
#include "retrieval/share_release.hpp"
#include "support/temp_dir.hpp"

#include <fstream>
#include <future>
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

TEST(series_bundle, streams_from_the_files_decodes_back_and_refuses_anything_else) {
  test::temp_dir dir("dm2-bundle");
  std::vector<object_store::stored_file> stored = {write_file(dir, "000000.dcm.dm2s", std::string("\0\1abc", 5)),
                                                   write_file(dir, "volume.nii.dm2s", "")};
  bundle_stream stream(stored);
  std::size_t pieces = 0;
  auto bytes = drain(stream, &pieces);
  ASSERT_TRUE(bytes) << bytes.err().message;
  EXPECT_EQ(pieces, 2u);  // one file per piece
  EXPECT_EQ(bytes->size(), *stream.size());
  auto back = decode_bundle(*bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, (bundle_files{{"000000.dcm.dm2s", std::string("\0\1abc", 5)}, {"volume.nii.dm2s", ""}}));
  bundle_stream none({});
  EXPECT_TRUE(decode_bundle(*drain(none)).ok());
  EXPECT_EQ(decode_bundle(*bytes + "x").err().code, errc::malformed_input);  // trailing bytes
  EXPECT_EQ(decode_bundle(bytes->substr(0, bytes->size() - 1)).err().code,
            errc::malformed_input);  // truncated
  EXPECT_EQ(decode_bundle("dm2b\x02" + bytes->substr(5)).err().code,
            errc::malformed_input);  // version
  auto named = [&](const std::string& name) {
    std::string b = bytes->substr(0, 9);
    b.back() = 1;
    b += std::string{'\0', static_cast<char>(name.size())} + name + std::string(7, '\0') + "\1x";
    return decode_bundle(b);
  };
  EXPECT_TRUE(named("a.b").ok());
  EXPECT_EQ(named("../etc").err().code, errc::malformed_input);
  EXPECT_EQ(named("a/b").err().code, errc::malformed_input);
  EXPECT_EQ(named("").err().code, errc::malformed_input);
  // A file that changed size after it was listed does not go out short or long.
  stored[0].size = 4;
  bundle_stream changed(stored);
  EXPECT_EQ(drain(changed).err().code, errc::io_error);
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
  files[1].bytes = *crypto::read_file(files[1].path);  // from another owner's answer: in memory
  files[1].path.clear();
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
  for (std::size_t i = 0; i < 2; ++i) instances.push_back({files[i].name, files[i].size, {}, {}, files[i].open_when_sealed});
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
  for (std::size_t i = 0; i < 2; ++i) instances.push_back({files[i].name, files[i].size, {}, {}, files[i].open_when_sealed});
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
  auto wrong = series_answer::open(key, lfn, 7, {{files[0].name, files[0].size, {}, {}, sized->files()[0].open_when_sealed}},
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
