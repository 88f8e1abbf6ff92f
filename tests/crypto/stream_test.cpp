#include "dm2/crypto/stream.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <filesystem>

#include "dm2/crypto/aead.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/private_file.hpp"
#include "support/temp_dir.hpp"

namespace dm2::crypto {
namespace {

constexpr size_t chunk = 1024;  // small chunks keep the tamper tests fast
constexpr size_t sealed_chunk = chunk + stream_tag_size;

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 131 + 7);
  return s;
}

TEST(stream, round_trip_of_edge_sizes) {
  auto key = generate_aead_key();
  for (size_t n : {size_t{0}, size_t{1}, chunk - 1, chunk, chunk + 1, 3 * chunk, 5 * chunk + 17}) {
    auto plain = pattern(n);
    auto sealed = stream_seal(key, plain, "series=9", chunk);
    ASSERT_TRUE(sealed.ok()) << sealed.err().to_string();
    EXPECT_EQ(sealed->size(), sealed_stream_size(n, chunk)) << n;
    auto opened = stream_open(key, *sealed, "series=9");
    ASSERT_TRUE(opened.ok()) << n << ": " << opened.err().to_string();
    EXPECT_EQ(*opened, plain) << n;
  }
}

TEST(stream, several_mebibytes_with_the_default_chunk_and_odd_splits) {
  auto key = generate_aead_key();
  auto plain = random_bytes(3 * 1024 * 1024 + 12345);
  auto sealer = stream_sealer::create(key, "ad").value();
  std::string sealed;
  // Feed in uneven pieces so chunk boundaries fall inside updates.
  for (size_t pos = 0, step = 1; pos < plain.size(); pos += step, step = step * 3 % 100003 + 1)
    ASSERT_TRUE(sealer.update(std::string_view(plain).substr(pos, step), sealed).ok());
  ASSERT_TRUE(sealer.finish(sealed).ok());
  EXPECT_EQ(sealed.size(), sealed_stream_size(plain.size()));

  auto opener = stream_opener::create(key, "ad").value();
  std::string opened;
  for (size_t pos = 0, step = 7; pos < sealed.size(); pos += step, step = step * 5 % 70001 + 1)
    ASSERT_TRUE(opener.update(std::string_view(sealed).substr(pos, step), opened).ok());
  ASSERT_TRUE(opener.finish(opened).ok());
  EXPECT_EQ(opened, plain);
  EXPECT_FALSE(opener.finish(opened).ok());  // single use
  EXPECT_FALSE(sealer.update("more", sealed).ok());
}

// With the size announced, chunk-aligned blocks are sealed without holding a chunk back, and
// the update that reaches the size seals the last chunk (finish adds nothing); the stream is the
// same format (same size, opens), and the announcement is enforced both ways.
TEST(stream, an_announced_size_seals_aligned_blocks_and_is_enforced) {
  auto key = generate_aead_key();
  for (size_t block : {2 * chunk, size_t{7}}) {
    for (size_t n : {size_t{0}, chunk, 4 * chunk, 4 * chunk + 1}) {
      auto plain = pattern(n);
      auto sealer = stream_sealer::create(key, "ad", chunk).value();
      ASSERT_TRUE(sealer.expect_size(n).ok());
      std::string sealed;
      for (size_t at = 0; at < n; at += block)
        ASSERT_TRUE(sealer.update(std::string_view(plain).substr(at, block), sealed).ok());
      if (n > 0) {
        EXPECT_EQ(sealed.size(), sealed_stream_size(n, chunk)) << n << " in " << block;
      }
      ASSERT_TRUE(sealer.update("", sealed).ok());  // nothing more: accepted, adds nothing
      ASSERT_TRUE(sealer.finish(sealed).ok()) << n;
      EXPECT_EQ(sealed.size(), sealed_stream_size(n, chunk)) << n;
      auto opened = stream_open(key, sealed, "ad");
      ASSERT_TRUE(opened.ok()) << n << ": " << opened.err().to_string();
      EXPECT_EQ(*opened, plain) << n;
    }
  }
  std::string out;
  auto longer = stream_sealer::create(key, "ad", chunk).value();
  ASSERT_TRUE(longer.expect_size(chunk).ok());
  EXPECT_EQ(longer.update(pattern(chunk + 1), out).err().code, errc::invalid_argument);
  auto shorter = stream_sealer::create(key, "ad", chunk).value();
  ASSERT_TRUE(shorter.expect_size(2 * chunk).ok());
  ASSERT_TRUE(shorter.update(pattern(chunk), out).ok());
  EXPECT_EQ(shorter.finish(out).err().code, errc::invalid_argument);
  auto late = stream_sealer::create(key, "ad", chunk).value();
  ASSERT_TRUE(late.update("x", out).ok());
  EXPECT_EQ(late.expect_size(1).err().code, errc::invalid_argument);
}

// Block by block over one reused buffer (as the file form seals): each call's bytes are the
// stream's next bytes, the buffer keeps its size across streams, and the stream opens.
TEST(stream, blocks_sealed_over_a_reused_buffer_make_the_same_stream_format) {
  auto key = generate_aead_key();
  std::string buffer;
  for (size_t n : {size_t{0}, 3 * chunk + 5, 5 * chunk}) {
    auto plain = pattern(n);
    auto sealer = stream_sealer::create(key, "ad", chunk).value();
    if (n % 2 == 1) {  // with and without a size
      ASSERT_TRUE(sealer.expect_size(n).ok());
    }
    std::string sealed;
    const size_t kept = buffer.size();
    for (size_t at = 0; at < n; at += 2 * chunk) {
      auto block = sealer.seal_block(std::string_view(plain).substr(at, 2 * chunk), buffer);
      ASSERT_TRUE(block.ok()) << block.err().to_string();
      EXPECT_EQ(block->data(), buffer.data());
      sealed += *block;
    }
    auto last = sealer.seal_last(buffer);
    ASSERT_TRUE(last.ok()) << last.err().to_string();
    sealed += *last;
    EXPECT_GE(buffer.size(), kept);  // never shrinks
    EXPECT_EQ(sealed.size(), sealed_stream_size(n, chunk)) << n;
    auto opened = stream_open(key, sealed, "ad");
    ASSERT_TRUE(opened.ok()) << n << ": " << opened.err().to_string();
    EXPECT_EQ(*opened, plain) << n;
  }
}

// 40 MiB in one call: the one-shot helpers size their output once (advised, populated pages).
TEST(stream, a_large_one_shot_round_trips) {
  auto key = generate_aead_key();
  auto plain = random_bytes((40 << 20) + 3);
  auto sealed = stream_seal(key, plain, "large");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), sealed_stream_size(plain.size()));
  auto opened = stream_open(key, *sealed, "large");
  ASSERT_TRUE(opened.ok());
  EXPECT_TRUE(*opened == plain);
}

class stream_tamper : public ::testing::Test {
 protected:
  std::string key = generate_aead_key();
  std::string plain = pattern(4 * chunk + 100);  // 5 chunks, the last one short
  std::string sealed = *stream_seal(key, plain, "ad", chunk);

  std::string chunk_at(size_t i) const {
    return sealed.substr(stream_header_size + i * sealed_chunk, sealed_chunk);
  }
  void expect_refused(const std::string& bad, const char* what) {
    auto r = stream_open(key, bad, "ad");
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.err().code, errc::integrity_failure) << what << ": " << r.err().to_string();
  }
};

TEST_F(stream_tamper, swapped_chunks) {
  auto bad = sealed;
  bad.replace(stream_header_size, sealed_chunk, chunk_at(1));
  bad.replace(stream_header_size + sealed_chunk, sealed_chunk, chunk_at(0));
  expect_refused(bad, "swap 0 and 1");
}

TEST_F(stream_tamper, duplicated_chunk) {
  auto bad = sealed;
  bad.replace(stream_header_size + sealed_chunk, sealed_chunk, chunk_at(0));
  expect_refused(bad, "chunk 0 twice");
}

TEST_F(stream_tamper, dropped_last_chunk) {
  expect_refused(sealed.substr(0, stream_header_size + 4 * sealed_chunk), "last chunk dropped");
  expect_refused(sealed.substr(0, sealed.size() - 1), "last byte dropped");
  expect_refused(sealed.substr(0, stream_header_size), "header only");
  expect_refused(sealed.substr(0, 10), "half a header");
}

TEST_F(stream_tamper, appended_chunk) {
  expect_refused(sealed + chunk_at(1), "a chunk appended");
  // A whole extra stream's final chunk sealed under the same key does not fit either.
  auto other = *stream_seal(key, pattern(10), "ad", chunk);
  expect_refused(sealed + other.substr(stream_header_size), "foreign final chunk appended");
}

TEST_F(stream_tamper, every_flipped_bit_is_refused) {
  // Every bit of the header and the first and last 64 bytes of each chunk (tags included).
  for (size_t byte = 0; byte < sealed.size(); ++byte) {
    size_t in_chunk = byte < stream_header_size ? 0 : (byte - stream_header_size) % sealed_chunk;
    if (byte >= stream_header_size && in_chunk >= 64 && in_chunk < sealed_chunk - 64 &&
        byte < sealed.size() - 64)
      continue;
    for (int bit = 0; bit < 8; ++bit) {
      auto bad = sealed;
      bad[byte] = static_cast<char>(bad[byte] ^ (1 << bit));
      auto r = stream_open(key, bad, "ad");
      ASSERT_FALSE(r.ok()) << "byte " << byte << " bit " << bit;
      if (byte >= stream_header_size) {
        EXPECT_EQ(r.err().code, errc::integrity_failure);
      }
    }
  }
}

TEST_F(stream_tamper, wrong_key_or_associated_data) {
  EXPECT_EQ(stream_open(generate_aead_key(), sealed, "ad").err().code, errc::integrity_failure);
  EXPECT_EQ(stream_open(key, sealed, "ae").err().code, errc::integrity_failure);
  EXPECT_EQ(stream_open("short", sealed, "ad").err().code, errc::invalid_argument);
  EXPECT_EQ(stream_sealer::create(key, "", 8).err().code, errc::invalid_argument);
  EXPECT_EQ(stream_open(key, std::string(100, 'x'), "ad").err().code, errc::malformed_input);
}

TEST_F(stream_tamper, errors_are_sticky_and_plaintext_is_not_released_for_the_bad_chunk) {
  auto bad = sealed;
  bad[stream_header_size + sealed_chunk + 5] ^= 1;  // inside chunk 1
  auto opener = stream_opener::create(key, "ad").value();
  std::string out;
  auto r = opener.update(bad, out);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(out, plain.substr(0, chunk));  // only chunk 0, which did authenticate
  EXPECT_EQ(opener.update("", out).err().code, errc::integrity_failure);
  EXPECT_EQ(opener.finish(out).err().code, errc::integrity_failure);
}

TEST(stream, files_round_trip_and_a_failed_open_leaves_nothing) {
  dm2::test::temp_dir dir;
  auto key = generate_aead_key();
  auto plain = random_bytes(300 * 1024 + 3);
  ASSERT_TRUE(write_private_file(dir.path() / "plain", plain).ok());
  ASSERT_TRUE(stream_seal_file(key, dir.path() / "plain", dir.path() / "sealed", "f").ok());
  ASSERT_TRUE(stream_open_file(key, dir.path() / "sealed", dir.path() / "opened", "f").ok());
  EXPECT_EQ(*read_file(dir.path() / "opened"), plain);
  // Left to the caller to sync: the same stream format, the same plaintext back.
  ASSERT_TRUE(stream_seal_file(key, dir.path() / "plain", dir.path() / "sealed2", "f",
                               default_stream_chunk_size, file_sync::by_caller)
                  .ok());
  ASSERT_TRUE(stream_open_file(key, dir.path() / "sealed2", dir.path() / "opened2", "f").ok());
  EXPECT_EQ(*read_file(dir.path() / "opened2"), plain);
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "opened").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(stream_seal_file(key, dir.path() / "plain", dir.path() / "sealed", "f").err().code,
            errc::conflict);
  EXPECT_EQ(stream_seal_file(key, dir.path() / "absent", dir.path() / "x", "f").err().code,
            errc::not_found);

  auto sealed = *read_file(dir.path() / "sealed");
  sealed.resize(sealed.size() - sealed_chunk / 2);
  ASSERT_TRUE(write_public_file(dir.path() / "truncated", sealed).ok());
  auto r = stream_open_file(key, dir.path() / "truncated", dir.path() / "out", "f");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::integrity_failure);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "out"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "out.partial"));
}

}  // namespace
}  // namespace dm2::crypto
