// Incremental, restartable site sync against both servers.
#include "dm2/pacs/site_sync.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "old_pacs_server.hpp"
#include "pacs_server_fixture.hpp"
#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace dm2::pacs {
namespace {

class memory_cursor_store final : public sync_cursor_store {
 public:
  std::optional<sync_cursor> stored;
  unsigned saves = 0;
  result<std::optional<sync_cursor>> load() override { return stored; }
  status save(const sync_cursor& c) override {
    stored = c;
    ++saves;
    return {};
  }
};

class site_sync_test : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    DM2_REQUIRE_PRIVATE_NETWORK();
    std::filesystem::create_directories(dir_ / "server");
    if (GetParam() == "orthanc")
      server_ = std::make_unique<dm2::test::orthanc_server>(dir_ / "server");
    else
      server_ = std::make_unique<dm2::test::dcmqrscp_server>(dir_ / "server");
    ASSERT_EQ(server_->start(), "");
  }
  // Uploads a small series of the given study/date; returns its SeriesInstanceUID.
  std::string add_series(const std::string& study_uid, const std::string& date) {
    auto sub = dir_ / ("s" + std::to_string(++n_));
    std::filesystem::create_directories(sub);
    dm2::test::synthetic_options o;
    o.slices = 2;
    o.rows = o.columns = 8;
    o.study_uid = study_uid;
    o.study_date = date;
    auto s = dm2::test::write_synthetic_series(sub, o);
    EXPECT_EQ(server_->upload(s.files), "");
    return s.series_uid;
  }
  dm2::test::temp_dir dir_{"dm2-pacs-sync"};
  std::unique_ptr<dm2::test::pacs_server> server_;
  int n_ = 0;
};

TEST_P(site_sync_test, incremental_and_restartable) {
  const std::string study1 = "1.2.826.0.1.3680043.2.1125.1";
  const std::string study2 = "1.2.826.0.1.3680043.2.1125.2";
  auto a = add_series(study1, "20240101");
  auto b = add_series(study2, "20240102");
  auto c = add_series(study2, "20240102");

  memory_cursor_store store;
  std::vector<std::string> handed;
  auto collect = [&](const series_ref& s) -> status {
    handed.push_back(s.series_uid);
    return {};
  };
  auto r = sync_site(server_->settings(), store, collect);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(r->handed_over, 3u);
  ASSERT_EQ(handed.size(), 3u);
  EXPECT_EQ(handed[0], a);  // oldest date first
  EXPECT_EQ(store.stored->date, "20240102");
  EXPECT_EQ(store.stored->seen.size(), 2u);

  // Nothing new: nothing handed over, nothing asked about 2024-01-01 again.
  handed.clear();
  r = sync_site(server_->settings(), store, collect);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(r->handed_over, 0u);
  EXPECT_EQ(r->skipped, 2u);
  EXPECT_EQ(r->studies, 1u);

  // New series on the cursor's date and later; the handler fails on the second one.
  auto d = add_series(study2, "20240102");
  auto e = add_series("1.2.826.0.1.3680043.2.1125.3", "20240105");
  handed.clear();
  int calls = 0;
  auto flaky = [&](const series_ref& s) -> status {
    if (++calls == 2) return fail(errc::unavailable, "ingest failed");
    handed.push_back(s.series_uid);
    return {};
  };
  r = sync_site(server_->settings(), store, flaky);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::unavailable);
  EXPECT_EQ(handed, std::vector<std::string>{d});
  // Restart: the failed series comes again, the handed one does not.
  handed.clear();
  r = sync_site(server_->settings(), store, collect);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(handed, std::vector<std::string>{e});
  EXPECT_EQ(store.stored->date, "20240105");

  // A re-scan from 2024-01-02 hands over every series of that range again, the ones the cursor
  // passed included (a changed series is the handler's to tell), and leaves the cursor as it was.
  const auto before = *store.stored;
  handed.clear();
  sync_options rescan;
  rescan.rescan_since = "20240102";
  r = sync_site(server_->settings(), store, collect, rescan);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(r->skipped, 0u);
  EXPECT_EQ(std::set<std::string>(handed.begin(), handed.end()), (std::set<std::string>{b, c, d, e}));
  EXPECT_EQ(store.stored->date, before.date);
  EXPECT_EQ(store.stored->seen, before.seen);
  // The next incremental sync is as before the re-scan: nothing new.
  handed.clear();
  r = sync_site(server_->settings(), store, collect);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_TRUE(handed.empty());
  rescan.rescan_since = "2024-01-02";
  EXPECT_EQ(sync_site(server_->settings(), store, collect, rescan).err().code, errc::malformed_input);
}

INSTANTIATE_TEST_SUITE_P(servers, site_sync_test, ::testing::Values("orthanc", "dcmqrscp"));

TEST(site_sync, file_cursor_round_trips_and_rejects_garbage) {
  dm2::test::temp_dir dir;
  file_cursor_store store((dir / "cursor.json").string());
  auto none = store.load();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(store.save({"20240102", {"1.2.3", "1.2.4"}, {}}).ok());
  auto back = store.load();
  ASSERT_TRUE(back.ok() && back->has_value());
  EXPECT_EQ((*back)->date, "20240102");
  EXPECT_EQ((*back)->seen.size(), 2u);
  std::ofstream(dir / "cursor.json") << "{\"date\": 5}";
  auto bad = store.load();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.err().code, errc::malformed_input);
}

TEST(site_sync, pacs_down_and_bad_dates_are_errors) {
  pacs_settings s;
  s.port = dm2::test::free_port();
  memory_cursor_store store;
  auto r = sync_site(s, store, [](const series_ref&) -> status { return {}; });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::unavailable);
  EXPECT_FALSE(store.stored.has_value());
  sync_options o;
  o.since = "2024-01-01";
  r = sync_site(s, store, [](const series_ref&) -> status { return {}; }, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::malformed_input);
}

// Studies whose StudyDate is empty or 00000000 match no date range; the sync still finds them.
TEST(site_sync, finds_studies_without_a_date_on_an_older_pacs) {
  DM2_REQUIRE_PRIVATE_NETWORK();
  dm2::test::temp_dir dir{"dm2-pacs-sync-undated"};
  dm2::test::old_pacs_server server;
  std::map<std::string, std::string> date_of;  // series -> date
  for (const std::string date : {"20240101", "", "00000000"}) {
    dm2::test::synthetic_options o;
    o.slices = 1;
    o.rows = o.columns = 8;
    o.study_date = date;
    const auto sub = dir / ("d" + std::to_string(date_of.size()));
    std::filesystem::create_directories(sub);
    auto s = dm2::test::write_synthetic_series(sub, o);
    ASSERT_EQ(server.add(s.files), "");
    date_of[s.series_uid] = date == "20240101" ? date : "";
  }
  ASSERT_EQ(server.start(), "");
  memory_cursor_store store;
  std::map<std::string, std::string> handed;
  auto collect = [&](const series_ref& s) -> status {
    handed[s.series_uid] = s.study_date;
    return {};
  };
  // Without the undated scan only the dated study is seen: what the sync did before.
  memory_cursor_store dated_only;
  sync_options no_scan;
  no_scan.undated = false;
  auto r = sync_site(server.settings(), dated_only, collect, no_scan);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(r->handed_over, 1u);
  handed.clear();

  r = sync_site(server.settings(), store, collect);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(r->handed_over, 3u);
  EXPECT_EQ(handed, date_of);
  EXPECT_EQ(store.stored->undated.size(), 2u);
  // The cursor survives encoding, and a second run hands nothing over again.
  auto back = sync_cursor::decode(store.stored->encode());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->undated, store.stored->undated);
  handed.clear();
  r = sync_site(server.settings(), store, collect);
  ASSERT_TRUE(r.ok()) << r.err().to_string();
  EXPECT_EQ(r->handed_over, 0u);
  EXPECT_EQ(r->skipped, 3u);
}

}  // namespace
}  // namespace dm2::pacs
