#include "dm2/storage/index_record.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "fixtures.hpp"

namespace dm2::storage {
namespace {

TEST(index_record, encoding_round_trips) {
  auto r = test::sample_record();
  auto decoded = decode_index_record(encode_index_record(r));
  ASSERT_TRUE(decoded.ok()) << decoded.err().to_string();
  EXPECT_EQ(*decoded, r);
  index_record empty_attributes = r;
  empty_attributes.attributes = {};
  empty_attributes.signature.clear();
  EXPECT_EQ(*decode_index_record(encode_index_record(empty_attributes)), empty_attributes);
}

TEST(index_record, every_truncation_and_trailing_bytes_are_malformed) {
  std::string bytes = encode_index_record(test::sample_record());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto d = decode_index_record(std::string_view(bytes).substr(0, n));
    ASSERT_FALSE(d.ok()) << n;
    EXPECT_EQ(d.err().code, errc::malformed_input);
  }
  auto trailing = decode_index_record(bytes + "x");
  ASSERT_FALSE(trailing.ok());
  EXPECT_NE(trailing.err().message.find("trailing"), std::string::npos);
}

TEST(index_record, invalid_fields_are_refused_with_their_name) {
  auto check = [](auto mutate, std::string_view field) {
    auto r = test::sample_record();
    mutate(r);
    auto v = validate(r);
    ASSERT_FALSE(v.ok()) << field;
    EXPECT_EQ(v.err().code, errc::malformed_input);
    EXPECT_NE(v.err().message.find(field), std::string::npos) << v.err().message;
  };
  check([](index_record& r) { r.lfn = "short"; }, "lfn");
  check([](index_record& r) { r.owner_site = ""; }, "owner_site");
  check([](index_record& r) { r.owner_site = "site a"; }, "owner_site");
  check([](index_record& r) { r.attributes.modality = "C\nT"; }, "modality");
  check([](index_record& r) { r.attributes.manufacturer = std::string(65, 'M'); }, "manufacturer");
  check([](index_record& r) { r.attributes.study_date = "2024-01-15"; }, "study_date");
  check([](index_record& r) { r.attributes.series_date = "20241315"; }, "series_date");
  check([](index_record& r) { r.attributes.sex = "X"; }, "sex");
  check([](index_record& r) { r.owner_signature = std::string(129, 's'); }, "owner_signature");
}

TEST(index_record, decoding_refuses_what_validation_refuses) {
  auto r = test::sample_record();
  std::string bytes = encode_index_record(r);
  // The study date is the 5th short string after format, lfn, version and owner site.
  auto pos = bytes.find("20240115");
  ASSERT_NE(pos, std::string::npos);
  bytes[pos + 4] = '9';  // month 91
  auto d = decode_index_record(bytes);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.err().message.find("study_date"), std::string::npos);
  std::string unknown = encode_index_record(r);
  unknown[0] = 3;
  EXPECT_EQ(decode_index_record(unknown).err().code, errc::malformed_input);
}

index_record with_diagnoses() {
  auto r = test::sample_record();
  r.diagnoses = {{"I21.4", "20261202", true}, {"", "20261202", true}, {"Q21.10", "20261203", false}};
  return r;
}

TEST(index_record, diagnoses_take_format_2_and_records_without_keep_format_1) {
  auto plain = test::sample_record();
  EXPECT_EQ(encode_index_record(plain)[0], '\x01');  // the bytes (and signatures) of older records
  auto r = with_diagnoses();
  auto bytes = encode_index_record(r);
  EXPECT_EQ(bytes[0], '\x02');
  auto decoded = decode_index_record(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.err().to_string();
  EXPECT_EQ(*decoded, r);
  EXPECT_NE(signed_payload(r), signed_payload(plain));  // the owner signs the diagnoses too
  for (std::size_t n = 0; n < bytes.size(); ++n) ASSERT_FALSE(decode_index_record(bytes.substr(0, n)).ok()) << n;
  // Format 2 with no diagnosis is not canonical; a text flag other than 0 or 1 is malformed.
  auto none = encode_index_record(plain);
  none[0] = 2;
  none.insert(none.size() - 1 - plain.owner_signature.size(), 1, '\0');
  EXPECT_EQ(decode_index_record(none).err().code, errc::malformed_input);
  auto flag = bytes;
  flag[flag.size() - 1 - r.owner_signature.size() - 1] = 2;  // the last diagnosis' text flag
  EXPECT_EQ(decode_index_record(flag).err().code, errc::malformed_input);
}

TEST(index_record, diagnosis_codes_are_checked_by_icd10_shape) {
  for (const char* good : {"I21", "I21.4", "Q21.10", "C34.90", "Z99.A"}) EXPECT_TRUE(valid_diagnosis_code(good)) << good;
  for (const char* bad : {"", "I2", "I21.", "I214", "i21.4", "121.4", "I21.12345", "I21-4", "II1.4", "I21.4 "})
    EXPECT_FALSE(valid_diagnosis_code(bad)) << bad;
  EXPECT_EQ(diagnosis_category("I21.4"), "I21");
  auto check = [](auto mutate, std::string_view field) {
    auto r = with_diagnoses();
    mutate(r);
    auto v = validate(r);
    ASSERT_FALSE(v.ok()) << field;
    EXPECT_NE(v.err().message.find(field), std::string::npos) << v.err().message;
  };
  check([](index_record& r) { r.diagnoses[0].code = "heart attack"; }, "diagnosis code");
  check([](index_record& r) { r.diagnoses[2].has_text = false; r.diagnoses[2].code = ""; }, "neither code nor text");
  check([](index_record& r) { r.diagnoses[0].recorded_on = "2026-12-02"; }, "recorded_on");
  check([](index_record& r) { r.diagnoses.resize(17, {"I21", "20261202", false}); }, "more than 16");
}

TEST(index_record, last_writer_wins_by_version_then_owner_signature) {
  auto a = test::sample_record();
  auto b = a;
  b.version = 2;
  EXPECT_TRUE(supersedes(b, a));
  EXPECT_FALSE(supersedes(a, b));
  auto c = a;
  c.owner_signature[0] = '\x08';
  EXPECT_TRUE(supersedes(c, a));
  EXPECT_FALSE(supersedes(a, c));
  EXPECT_FALSE(supersedes(a, a));
}

TEST(index_record, the_signed_payload_excludes_the_owner_signature) {
  auto a = test::sample_record();
  auto b = a;
  b.owner_signature = "other";
  EXPECT_EQ(signed_payload(a), signed_payload(b));
  b.version = 9;
  EXPECT_NE(signed_payload(a), signed_payload(b));
}

}  // namespace
}  // namespace dm2::storage

namespace dm2::storage {
namespace {

std::string seed(const std::string& name) {
  std::ifstream in(std::string(DM2_RECORD_SEEDS) + "/" + name, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The fuzz seeds are hand-built from docs/storage.md; they must stay valid encodings.
TEST(index_record, the_fuzz_seeds_match_the_documented_encodings) {
  auto full = decode_index_record(seed("index-full.bin"));
  ASSERT_TRUE(full.ok()) << full.err().to_string();
  EXPECT_EQ(full->attributes.manufacturer, "SIEMENS");
  EXPECT_EQ(full->attributes.series_date, "20240116");
  ASSERT_TRUE(decode_index_record(seed("index-empty.bin")).ok());
  auto audit = decode_audit_entry(seed("audit-7.bin"));
  ASSERT_TRUE(audit.ok()) << audit.err().to_string();
  EXPECT_EQ(audit->sequence, 7u);
  EXPECT_EQ(audit->event.object, "site-b");
  EXPECT_TRUE(decode_audit_entry(seed("audit-0.bin")).ok());
}

}  // namespace
}  // namespace dm2::storage
