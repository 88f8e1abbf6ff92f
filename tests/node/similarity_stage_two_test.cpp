// Stage 2's pure parts: the NIfTI reader (what a sealed volume opens to), the query volume's wire
// form, the stage-2 request and answer codecs, and the query book's two-stage ranking.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "dm2/crypto/hash.hpp"
#include "dm2/pacs/volume.hpp"
#include "provenance_fixtures.hpp"
#include "query_book.hpp"
#include "query_scoring.hpp"
#include "similarity/nifti_reader.hpp"
#include "similarity/query_volume.hpp"
#include "similarity/registry.hpp"
#include "stage_two.hpp"
#include "support/temp_dir.hpp"

namespace dm2::node {
namespace {

using testing::provenance_of;
using testing::scored;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

similarity::volume ramp(std::array<std::size_t, 3> dims) {
  similarity::volume v;
  v.dims = dims;
  v.spacing = {0.7, 0.8, 1.25};
  v.affine_ras = {-0.7, 0, 0, 120, 0, -0.8, 0, 110, 0, 0, 1.25, -50, 0, 0, 0, 1};
  for (std::size_t k = 0; k < dims[2]; ++k)
    for (std::size_t j = 0; j < dims[1]; ++j)
      for (std::size_t i = 0; i < dims[0]; ++i) v.voxels.push_back(static_cast<float>(i * 3 + j * 7 + k * k) - 40.5f);
  v.series_uid = "1.2.3.secret";
  return v;
}

TEST(nifti_reader, reads_back_what_the_ingest_writes_and_refuses_bad_bytes) {
  test::temp_dir dir{"dm2-nifti"};
  auto v = ramp({9, 7, 5});
  ASSERT_TRUE(pacs::write_nifti(v, dir.path() / "v.nii"));
  auto bytes = slurp(dir.path() / "v.nii");
  auto back = similarity::read_nifti(bytes);
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(back->dims, v.dims);
  EXPECT_EQ(back->voxels, v.voxels);
  for (std::size_t i = 0; i < 12; ++i) EXPECT_NEAR(back->affine_ras[i], v.affine_ras[i], 1e-5) << i;
  EXPECT_TRUE(back->series_uid.empty());

  auto broken = [&](std::size_t at, const void* value, std::size_t size) {
    auto b = bytes;
    std::memcpy(b.data() + at, value, size);
    return similarity::read_nifti(b);
  };
  std::int16_t zero = 0, f64 = 64, rgb = 128, five = 5;
  float huge_offset = 1e9f, nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(similarity::read_nifti(bytes.substr(0, 300)).err().code, errc::malformed_input);
  EXPECT_EQ(similarity::read_nifti(bytes.substr(0, bytes.size() - 4)).err().code, errc::malformed_input);
  EXPECT_EQ(broken(344, "ni1", 4).err().code, errc::malformed_input);  // two-file form
  EXPECT_EQ(broken(42, &zero, 2).err().code, errc::malformed_input);   // a zero dimension
  EXPECT_EQ(broken(40, &five, 2).err().code, errc::malformed_input);   // 5-D
  EXPECT_EQ(broken(70, &f64, 2).err().code, errc::malformed_input);    // bitpix 32 for float64
  EXPECT_EQ(broken(70, &rgb, 2).err().code, errc::unsupported);
  EXPECT_EQ(broken(108, &huge_offset, 4).err().code, errc::malformed_input);
  EXPECT_EQ(broken(352, &nan, 4).err().code, errc::malformed_input);
  similarity::nifti_limits small{100};
  EXPECT_EQ(similarity::read_nifti(bytes, small).err().code, errc::too_large);
}

TEST(query_volume, is_the_grid_z_scored_and_survives_the_wire_exactly) {
  auto q = similarity::query_volume(ramp({20, 18, 12}));
  ASSERT_TRUE(q) << q.err().message;
  EXPECT_EQ(q->voxels.size(), similarity::query_grid * similarity::query_grid * similarity::query_grid);
  EXPECT_TRUE(q->series_uid.empty());
  auto wire = similarity::query_volume_wire(*q);
  EXPECT_EQ(wire.size(), similarity::query_volume_bytes);
  auto back = similarity::query_volume_from_wire(wire);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->voxels, q->voxels);
  EXPECT_FALSE(similarity::query_volume_from_wire(wire.substr(4)));
  auto nan = wire;
  float n = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan.data(), &n, 4);
  EXPECT_FALSE(similarity::query_volume_from_wire(nan));
}

TEST(stage_two_wire, request_and_answer_round_trip_and_bad_requests_name_the_field) {
  const std::string lfn(32, 'a'), other(32, 'b'), third(32, 'c');
  stage_two_request r{std::string(32, 'f'), "mi", "1", std::string(similarity::query_volume_bytes, '\0'), {lfn, other}};
  auto back = parse_stage_two_request(encode_stage_two_request(r));
  ASSERT_TRUE(back) << back.err().message;
  EXPECT_EQ(back->measure, "mi");
  EXPECT_EQ(back->lfns, r.lfns);
  EXPECT_EQ(back->volume, r.volume);
  // The binary frame: "DMS2", the header's length (uint32 LE), the JSON header, the volume.
  const std::string volume = r.volume;
  auto frame = [](const std::string& header, const std::string& tail, std::uint32_t length) {
    std::string out = "DMS2";
    for (int shift = 0; shift < 32; shift += 8) out.push_back(static_cast<char>(length >> shift & 0xff));
    return out + header + tail;
  };
  auto framed = [&](const std::string& header) { return frame(header, volume, static_cast<std::uint32_t>(header.size())); };
  const std::string good = R"({"query":")" + lfn + R"(","measure":"mi","lfns":[")" + lfn + R"("]})";
  ASSERT_TRUE(parse_stage_two_request(framed(good)));
  const std::pair<std::string, std::string> bad[] = {
      {R"({"query":")" + lfn + R"(","measure":"mi","lfns":[")" + lfn + R"("]})" + volume, "DMS2"},  // no frame
      {"DMS2", "DMS2"},                                                           // cut in its prefix
      {frame(good, volume, 0), "header"},                                         // an empty header
      {frame(good, volume, 16 * 1024 + 1), "header"},                             // too long a header
      {frame(good, volume, 0xffffffffu), "header"},                               // a length that would wrap
      {frame(good, volume.substr(4), static_cast<std::uint32_t>(good.size())), "query volume"},  // 4 bytes short
      {frame(good, volume + "x", static_cast<std::uint32_t>(good.size())), "query volume"},      // 1 byte more
      {frame(good, volume, static_cast<std::uint32_t>(good.size() - 1)), "query volume"},  // the length off by one
      {framed("[]"), "JSON object"},
      {framed(R"({"query":")" + lfn + R"(","measure":"mi","grid":64,"lfns":[")" + lfn + R"("]})"), "grid"},
      {framed(R"({"query":")" + lfn + R"(","measure":"mi","volume":"AAAA","lfns":[")" + lfn + R"("]})"), "volume"},
      {framed(R"({"query":")" + lfn + R"(","measure":"mi","lfns":[]})"), "lfns"},
      {framed(R"({"query":")" + lfn + R"(","measure":"mi","lfns":["ABC"]})"), "lfns"},
      {framed(R"({"query":")" + lfn + R"(","measure":"mi","lfns":[")" + lfn + R"("],"x":1})"), "x"},
      {framed(R"({"query":")" + lfn + R"(","lfns":[")" + lfn + R"("]})"), "measure"},
      {framed(R"({"query":")" + lfn + R"(","measure":"mi\nx","lfns":[")" + lfn + R"("]})"), "measure"},
      {framed(R"({"query":"x\n","measure":"mi","lfns":[")" + lfn + R"("]})"), "query"},
      {framed(R"({"measure":"mi","lfns":[")" + lfn + R"("]})"), "query"},
  };
  for (const auto& [body, field] : bad) {
    auto p = parse_stage_two_request(body);
    ASSERT_FALSE(p) << body.substr(0, 80);
    EXPECT_NE(p.err().message.find(field), std::string::npos) << p.err().message;
  }
  const auto& mi = **similarity::measure_registry::builtin().find("mi");
  auto with_provenance = scored(lfn, 0.75, 3);
  with_provenance.provenance = provenance_of(lfn, 0.75, 3, "site-2");
  with_provenance.reused = true;
  auto wrong_site = scored(third, 0.5, 1);  // a record naming another site than the answer's is dropped
  wrong_site.provenance = provenance_of(third, 0.5, 1, "site-3");
  auto answer = parse_stage_two_answer(encode_stage_two_answer(
      "site-2", mi, {with_provenance, missing_score(other, "refused"), wrong_site}));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->site, "site-2");
  EXPECT_EQ(answer->algorithm, "mi");
  EXPECT_EQ(answer->version, "1");
  ASSERT_EQ(answer->scores.size(), 3u);
  EXPECT_EQ(*answer->scores[0].score, 0.75);
  EXPECT_EQ(answer->scores[0].series_version, 3u);
  EXPECT_FALSE(answer->scores[1].score);
  EXPECT_EQ(answer->scores[1].missing, "refused");
  ASSERT_TRUE(answer->scores[0].provenance);
  EXPECT_EQ(encode_provenance(*answer->scores[0].provenance), encode_provenance(*with_provenance.provenance));
  EXPECT_TRUE(answer->scores[0].reused);
  EXPECT_EQ(*answer->scores[2].score, 0.5);
  EXPECT_FALSE(answer->scores[2].provenance);
  EXPECT_FALSE(parse_stage_two_answer(R"({"site":"x"})"));
}

dht::query_hit hit(char c, const std::string& owner, double score) { return {std::string(32, c), owner, score, "{}"}; }

TEST(query_book, a_query_by_image_ranks_stage_two_scores_first_and_flags_what_stage_two_missed) {
  query_book book;
  auto id = book.open({5, std::string(32, 'q'), 3});
  ASSERT_TRUE(id);
  dht::query_progress p;
  p.asked = p.answered = 3;
  // The query's own series is not a hit; a hit without a signature is no stage-2 candidate.
  EXPECT_FALSE(book.record(*id, {hit('q', "site-1", 1.0), hit('a', "site-2", 0.9), hit('b', "site-3", 0.8)}, p));
  p.done = true;
  EXPECT_TRUE(book.record(*id, {hit('c', "site-2", 0.7), hit('d', "site-1", 0.6), hit('e', "site-1", unscored)}, p));
  EXPECT_FALSE(book.view(*id)->progress.done);  // stage 2 is due
  auto candidates = book.start_stage_two(*id, "mi", "1");
  ASSERT_EQ(candidates.size(), 3u);
  EXPECT_EQ(candidates[0].lfn, std::string(32, 'a'));
  EXPECT_EQ(candidates[2].lfn, std::string(32, 'c'));
  // site-2 answers (c beats a by MI); site-3 is down: b keeps its stage-1 score, flagged.
  book.record_stage_two(*id, "site-2", true, {scored(std::string(32, 'a'), 0.4, 1), scored(std::string(32, 'c'), 0.9, 2)});
  book.record_stage_two(*id, "site-3", false, {missing_score(std::string(32, 'b'), "owner_unavailable")});
  book.finish_stage_two(*id);
  auto v = book.view(*id);
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->progress.done);
  EXPECT_TRUE(v->stage_two.done);
  EXPECT_EQ(v->stage_two.algorithm, "mi");
  EXPECT_EQ(v->stage_two.failed, std::vector<std::string>{"site-3"});
  std::vector<std::string> order;
  for (const auto& h : v->hits) order.push_back(h.hit.lfn.substr(0, 1));
  EXPECT_EQ(order, (std::vector<std::string>{"c", "a", "b", "d", "e"}));
  EXPECT_EQ(*v->hits[0].stage_two->score, 0.9);
  EXPECT_EQ(v->hits[2].stage_two->missing, "owner_unavailable");
  EXPECT_FALSE(v->hits[3].stage_two);
  EXPECT_EQ(book.running(), 0u);
}

}  // namespace
}  // namespace dm2::node
