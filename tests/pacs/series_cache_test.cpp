#include "dm2/pacs/series_cache.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "support/temp_dir.hpp"

namespace dm2::pacs {
namespace {

const std::string lfn_a = "0123456789abcdef0123456789abcdef";
const std::string lfn_b = "fedcba9876543210fedcba9876543210";
const std::string lfn_c = "00000000000000000000000000000001";

series_fetcher writes(std::size_t bytes, std::atomic<int>* calls = nullptr) {
  return [bytes, calls](const std::filesystem::path& dir) -> status {
    if (calls != nullptr) ++*calls;
    std::ofstream(dir / "slice.dcm") << std::string(bytes, 'x');
    return {};
  };
}

TEST(series_cache, concurrent_requests_for_one_series_fetch_once) {
  dm2::test::temp_dir dir;
  auto cache = series_cache::open({dir / "cache", 1 << 20});
  ASSERT_TRUE(cache.ok());
  std::atomic<int> calls{0};
  auto slow = [&](const std::filesystem::path& staging) -> status {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::ofstream(staging / "a.dcm") << "aaaa";
    std::ofstream(staging / "volume.nii") << "nnnn";
    return {};
  };
  std::vector<std::thread> threads;
  std::vector<result<cached_series>> results(6, fail(errc::internal, "not run"));
  for (int i = 0; i < 6; ++i)
    threads.emplace_back([&, i] { results[static_cast<std::size_t>(i)] = cache->get_or_fetch(lfn_a, slow); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), 1);
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.err().to_string();
    EXPECT_EQ(r->dir, dir / "cache" / lfn_a);
    EXPECT_EQ(r->files.size(), 2u);
    EXPECT_EQ(r->bytes, 8u);
  }
  // Later requests are served from disk.
  auto again = cache->get_or_fetch(lfn_a, slow);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(calls.load(), 1);
}

TEST(series_cache, a_failed_fetch_leaves_nothing_and_every_waiter_sees_the_error) {
  dm2::test::temp_dir dir;
  auto cache = series_cache::open({dir / "cache", 1 << 20});
  ASSERT_TRUE(cache.ok());
  const auto before = dm2::test::snapshot_tree(dir / "cache");
  std::atomic<int> calls{0};
  auto failing = [&](const std::filesystem::path& staging) -> status {
    ++calls;
    std::ofstream(staging / "partial.dcm") << "half a series";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return fail(errc::unavailable, "PACS went away");
  };
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      auto r = cache->get_or_fetch(lfn_b, failing);
      if (!r.ok() && r.err().code == errc::unavailable) ++errors;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 4);
  EXPECT_LE(calls.load(), 4);
  EXPECT_EQ(dm2::test::snapshot_tree(dir / "cache"), before);
  EXPECT_EQ(cache->count(), 0u);
  EXPECT_FALSE(cache->lookup(lfn_b).has_value());
  // A throwing fetcher is an error too, not a hang.
  auto r = cache->get_or_fetch(lfn_b, [](const std::filesystem::path&) -> status { throw 42; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(dm2::test::snapshot_tree(dir / "cache"), before);
}

TEST(series_cache, least_recently_used_series_are_evicted_under_the_cap) {
  dm2::test::temp_dir dir;
  auto cache = series_cache::open({dir / "cache", 250});
  ASSERT_TRUE(cache.ok());
  ASSERT_TRUE(cache->get_or_fetch(lfn_a, writes(100)).ok());
  ASSERT_TRUE(cache->get_or_fetch(lfn_b, writes(100)).ok());
  ASSERT_TRUE(cache->lookup(lfn_a).has_value());  // a is now more recent than b
  ASSERT_TRUE(cache->get_or_fetch(lfn_c, writes(100)).ok());
  EXPECT_TRUE(cache->lookup(lfn_a).has_value());
  EXPECT_FALSE(cache->lookup(lfn_b).has_value());
  EXPECT_FALSE(std::filesystem::exists(dir / "cache" / lfn_b));
  EXPECT_TRUE(cache->lookup(lfn_c).has_value());
  EXPECT_EQ(cache->size_bytes(), 200u);

  auto big = cache->get_or_fetch(lfn_b, writes(300));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.err().code, errc::too_large);
  EXPECT_FALSE(std::filesystem::exists(dir / "cache" / lfn_b));
  EXPECT_EQ(cache->count(), 2u);
}

TEST(series_cache, reopening_keeps_series_and_drops_interrupted_fetches) {
  dm2::test::temp_dir dir;
  {
    auto cache = series_cache::open({dir / "cache", 1 << 20});
    ASSERT_TRUE(cache.ok());
    ASSERT_TRUE(cache->get_or_fetch(lfn_a, writes(10)).ok());
  }
  std::filesystem::create_directories(dir / "cache" / (".staging-" + lfn_b + "-abc"));
  std::ofstream(dir / "cache" / (".staging-" + lfn_b + "-abc") / "x.dcm") << "partial";
  auto cache = series_cache::open({dir / "cache", 1 << 20});
  ASSERT_TRUE(cache.ok());
  EXPECT_EQ(cache->count(), 1u);
  EXPECT_EQ(cache->size_bytes(), 10u);
  EXPECT_FALSE(std::filesystem::exists(dir / "cache" / (".staging-" + lfn_b + "-abc")));
  std::atomic<int> calls{0};
  ASSERT_TRUE(cache->get_or_fetch(lfn_a, writes(10, &calls)).ok());
  EXPECT_EQ(calls.load(), 0);
  ASSERT_TRUE(cache->remove(lfn_a).ok());
  EXPECT_EQ(cache->count(), 0u);
}

TEST(series_cache, bad_lfns_and_settings_are_refused) {
  dm2::test::temp_dir dir;
  auto cache = series_cache::open({dir / "cache", 1 << 20});
  ASSERT_TRUE(cache.ok());
  for (const char* bad : {"../../etc/passwd", "", "0123456789ABCDEF0123456789ABCDEF", "0123"}) {
    auto r = cache->get_or_fetch(bad, writes(1));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.err().code, errc::invalid_argument);
  }
  EXPECT_FALSE(series_cache::open({"", 1}).ok());
  EXPECT_FALSE(series_cache::open({dir / "x", 0}).ok());
}

}  // namespace
}  // namespace dm2::pacs
