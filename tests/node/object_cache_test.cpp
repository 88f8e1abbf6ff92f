// The object store as a cache, on a real directory: the least recently read series go first,
// a pinned series never goes while its lease lives, the series placed last is kept, a capacity of
// 0 keeps everything, and the reading order survives a restart (directory times); a series
// re-assembled and placed without a sync lists only its sealed files and goes at the next start.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "ingest/object_cache.hpp"
#include "support/temp_dir.hpp"

namespace dm2::node {
namespace {

namespace fs = std::filesystem;

class object_cache_test : public ::testing::Test {
 protected:
  // A committed series of `bytes` sealed bytes at version 1, as the ingest leaves it.
  void place(const std::string& lfn, std::size_t bytes) {
    auto d = store.series_dir(lfn, 1);
    fs::create_directories(d);
    std::ofstream(d / "000000.dcm.dm2s", std::ios::binary) << std::string(bytes, 'x');
  }
  bool on_disk(const std::string& lfn) const { return fs::exists(store.series_dir(lfn, 1)); }

  test::temp_dir dir{"dm2-object-cache"};
  object_store store = *object_store::open(dir.path() / "objects");
};

TEST_F(object_cache_test, least_recently_read_goes_first_and_the_last_placed_stays) {
  auto cache = std::make_shared<object_cache>(store, 250);
  for (const auto* lfn : {"aa", "bb"}) {
    place(lfn, 100);
    cache->placed(lfn, 1);
  }
  EXPECT_EQ(cache->bytes(), 200u);
  cache->pin("aa");  // read: bb is now the least recently read
  place("cc", 100);
  cache->placed("cc", 1);
  EXPECT_TRUE(on_disk("aa"));
  EXPECT_FALSE(on_disk("bb"));
  EXPECT_TRUE(on_disk("cc"));
  EXPECT_EQ(cache->bytes(), 200u);
  EXPECT_EQ(cache->evictions(), 1u);

  // Bigger than the capacity on its own: placed last, it stays; everything else goes.
  place("dd", 400);
  cache->placed("dd", 1);
  EXPECT_FALSE(on_disk("aa"));
  EXPECT_FALSE(on_disk("cc"));
  EXPECT_TRUE(on_disk("dd"));
  EXPECT_EQ(cache->bytes(), 400u);
}

TEST_F(object_cache_test, a_pinned_series_is_never_evicted_under_its_reader) {
  auto cache = std::make_shared<object_cache>(store, 150);
  place("aa", 100);
  cache->placed("aa", 1);
  auto lease = cache->pin("aa");
  place("bb", 100);
  cache->placed("bb", 1);
  EXPECT_TRUE(on_disk("aa"));  // over capacity, but read right now
  EXPECT_TRUE(on_disk("bb"));
  EXPECT_EQ(cache->bytes(), 200u);
  lease.reset();  // the reader is done: the next placement evicts it
  place("cc", 10);
  cache->placed("cc", 1);
  EXPECT_FALSE(on_disk("aa"));
  EXPECT_TRUE(on_disk("bb"));
  EXPECT_EQ(cache->bytes(), 110u);
}

TEST_F(object_cache_test, capacity_zero_keeps_everything) {
  auto cache = std::make_shared<object_cache>(store, 0);
  for (const auto* lfn : {"aa", "bb", "cc"}) {
    place(lfn, 1000);
    cache->placed(lfn, 1);
  }
  EXPECT_TRUE(on_disk("aa") && on_disk("bb") && on_disk("cc"));
  EXPECT_EQ(cache->bytes(), 3000u);
  EXPECT_EQ(cache->evictions(), 0u);
}

TEST_F(object_cache_test, the_reading_order_and_the_capacity_hold_after_a_restart) {
  {
    auto cache = std::make_shared<object_cache>(store, 0);
    for (const auto* lfn : {"aa", "bb", "cc"}) {
      place(lfn, 100);
      cache->placed(lfn, 1);
    }
    // aa read last (the directory's time moves; file times have coarse steps on some file systems).
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    cache->pin("aa");
  }
  auto cache = std::make_shared<object_cache>(store, 200);  // restarted with a capacity
  cache->scan();
  EXPECT_TRUE(on_disk("aa"));
  EXPECT_EQ(int(on_disk("bb")) + int(on_disk("cc")), 1);  // one of the two older ones went
  EXPECT_EQ(cache->bytes(), 200u);
}

// A cache miss places its re-assembled series unsynced: served like any other (its marker is not
// a file of the series), but a crash could have torn it, so the start-up sweep removes it even
// though its version is the committed one; a series placed with its sync stays.
TEST_F(object_cache_test, a_series_placed_unsynced_goes_at_the_next_start) {
  for (const auto* lfn : {"aa", "bb"}) {
    auto staged = store.stage();
    ASSERT_TRUE(staged) << staged.err().message;
    std::ofstream(staged->dir / "000000.dcm.dm2s", std::ios::binary) << std::string(100, 'x');
    auto placed = std::string(lfn) == "aa" ? store.place_unsynced(*staged, lfn, 1) : store.place(*staged, lfn, 1);
    ASSERT_TRUE(placed) << placed.err().message;
  }
  auto listed = store.list_series("aa", 1);
  ASSERT_TRUE(listed) << listed.err().message;
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().name, "000000.dcm.dm2s");
  EXPECT_EQ(store.sweep([](const std::string&, std::uint64_t) { return true; }), 1u);
  EXPECT_FALSE(on_disk("aa"));
  EXPECT_TRUE(on_disk("bb"));
}

}  // namespace
}  // namespace dm2::node
