// dm2-sim as an engineer runs it: scenario files in, CSV out. Small runs (seconds).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

struct sim_run {
  int exit_code = -1;
  std::string csv;
  std::string err;
};

class dm2_sim : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dm2-sim-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  sim_run run(const std::string& args, const std::string& name) {
    auto csv = dir_ / (name + ".csv");
    auto err = dir_ / (name + ".err");
    auto cmd = std::string(DM2_SIM_BINARY) + " " + args + " --csv '" + csv.string() + "' 2>'" +
               err.string() + "'";
    sim_run r;
    int status = std::system(cmd.c_str());
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.csv = slurp(csv);
    r.err = slurp(err);
    return r;
  }
  fs::path write(const std::string& name, const std::string& text) {
    auto p = dir_ / name;
    std::ofstream(p) << text;
    return p;
  }
  static std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Column `col` of every data row.
  static std::vector<long> column(const std::string& csv, int col) {
    std::vector<long> out;
    for (const auto& cell : cells(csv, col)) out.push_back(std::stol(cell));
    return out;
  }
  static std::vector<std::string> cells(const std::string& csv, int col) {
    std::vector<std::string> out;
    std::istringstream in(csv);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream cells(line);
      std::string cell;
      for (int i = 0; i <= col && std::getline(cells, cell, ','); ++i) {
      }
      out.push_back(cell);
    }
    return out;
  }
  // The per-query CSV written beside `name`.csv when queries run.
  std::string queries_csv(const std::string& name) { return slurp(dir_ / (name + "-queries.csv")); }
  fs::path dir_;
};

const std::string scenarios = DM2_SIM_SCENARIOS;

TEST_F(dm2_sim, the_same_seed_writes_the_same_csv_byte_for_byte) {
  // Queries on, with failures noticed late (so some queries hedge), writes and a region outage.
  auto args = "--scenario " + scenarios +
              "/heavy-churn-2of3.toml --sites 60 --duration 300 --query-rate 2 --detection-delay 5 --write-rate 1 "
              "--regions 3 --outage-region 1 --outage-at 100 --outage-downtime 50 --inter-region-rtt 80 --rtt-spread 0.5";
  auto a = run(args, "a");
  auto b = run(args, "b");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_GT(a.csv.size(), 100u);
  EXPECT_EQ(a.csv, b.csv);
  EXPECT_GT(queries_csv("a").size(), 1000u);
  EXPECT_EQ(queries_csv("a"), queries_csv("b"));
  EXPECT_EQ(slurp(dir_ / "a-query-cdf.csv"), slurp(dir_ / "b-query-cdf.csv"));
  auto c = run(args + " --seed 99", "c");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(a.csv, c.csv);  // the seed matters (churn differs)
  // With every site's messages queued behind each other (the processing model) too.
  auto busy = args + " --message-us 300 --store-us 4000 --query-us 2500 --hit-us 20 --verify-us 150";
  auto d = run(busy, "d");
  auto e = run(busy, "e");
  ASSERT_EQ(d.exit_code, 0) << d.err;
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_EQ(d.csv, e.csv);
  EXPECT_EQ(queries_csv("d"), queries_csv("e"));
  EXPECT_NE(queries_csv("d"), queries_csv("a"));  // the queries wait: their latencies differ
}

// Issue 13, item 4: the shipped comparison scenario, both fan-outs on the same queries.
TEST_F(dm2_sim, the_tree_fan_out_is_deterministic_complete_and_spares_the_querier) {
  auto args = "--scenario " + scenarios + "/tree-vs-all-1000.toml --sites 120 --duration 40 --query-rate 2";
  auto a = run(args, "ta");
  auto b = run(args, "tb");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  auto q = queries_csv("ta");
  EXPECT_EQ(q, queries_csv("tb"));
  EXPECT_EQ(slurp(dir_ / "ta-query-cdf.csv"), slurp(dir_ / "tb-query-cdf.csv"));
  auto fanout = cells(q, 10), completeness = cells(q, 5);
  auto out = column(q, 11), in = column(q, 12), messages = column(q, 13);
  std::size_t trees = 0;
  double all_load = 0, tree_load = 0;
  for (std::size_t i = 0; i < fanout.size(); ++i) {
    if (fanout[i] == "tree") {
      ++trees;
      tree_load += static_cast<double>(out[i] + in[i]);
      // Every query a tree ran came back whole: sites that failed unnoticed were covered by
      // re-sends and the second pass.
      EXPECT_EQ(completeness[i], "1.000000") << "query " << i;
      EXPECT_GT(messages[i], 2 * 100);  // every live site got the query (and answered)
    } else {
      all_load += static_cast<double>(out[i] + in[i]);
    }
  }
  ASSERT_GT(trees, 50u);
  EXPECT_EQ(fanout.size(), 2 * trees);  // each query ran both ways
  EXPECT_LT(tree_load * 5, all_load);  // the querier handles a fraction of one-to-all's messages
  // Refused: a fan-out that does not exist.
  auto bad = run("--sites 10 --duration 1 --query-fanout star", "bad");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("load.query_fanout"), std::string::npos) << bad.err;
}

TEST_F(dm2_sim, without_churn_every_record_and_key_is_fully_available) {
  auto r = run("--scenario " + scenarios +
                   "/baseline-1000.toml --sites 80 --duration 120 "
                   "--failure-rate 0",
               "quiet");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto alive = column(r.csv, 1), under = column(r.csv, 2), under_shared = column(r.csv, 3),
       unreadable = column(r.csv, 4);
  ASSERT_GT(alive.size(), 10u);
  for (std::size_t i = 1; i < alive.size(); ++i) {  // row 0 is t = 0, before any replication
    EXPECT_EQ(alive[i], 80);
    EXPECT_EQ(under[i], 0) << "row " << i;
    EXPECT_EQ(under_shared[i], 0) << "row " << i;
    EXPECT_EQ(unreadable[i], 0) << "row " << i;
  }
}

TEST_F(dm2_sim, without_churn_every_query_is_complete) {
  auto r = run("--scenario " + scenarios + "/baseline-1000.toml --sites 80 --duration 60 --failure-rate 0 --query-rate 2",
               "quiet");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto q = queries_csv("quiet");
  auto completeness = cells(q, 5);
  auto expected = column(q, 3), asked = column(q, 6), late = column(q, 9);
  ASSERT_GT(completeness.size(), 60u);  // ~2 a second for 60 s
  for (std::size_t i = 0; i < completeness.size(); ++i) {
    EXPECT_EQ(completeness[i], "1.000000") << "query " << i;
    EXPECT_EQ(expected[i], 80);  // a tenth of 80 x 10 records
    EXPECT_EQ(asked[i], 80);
    EXPECT_EQ(late[i], 0);
  }
  EXPECT_EQ(column(r.csv, 8).back(), 0);  // queries_incomplete
}

TEST_F(dm2_sim, a_region_outage_takes_down_exactly_that_region_for_its_downtime) {
  // 80 sites in 3 regions: region 2 is sites 2, 5, ..., 77 (26 sites). No other failures.
  auto file = write("outage.toml",
                    "[consortium]\nsites = 80\nregions = 3\n[churn]\nfailure_rate_per_hour = 0\n"
                    "[outage]\nregion = 2\nat_s = 30\ndowntime_s = 60\n[run]\nduration_s = 150\nsample_s = 5\n");
  auto r = run("--scenario " + file.string(), "outage");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("30 s: region 2 down (26 sites) for 60 s"), std::string::npos) << r.err;
  auto time = column(r.csv, 0), alive = column(r.csv, 1);
  ASSERT_EQ(time.size(), 31u);
  for (std::size_t i = 0; i < time.size(); ++i)
    EXPECT_EQ(alive[i], time[i] >= 30 && time[i] < 90 ? 54 : 80) << "t = " << time[i];
}

TEST_F(dm2_sim, a_partition_from_the_scenario_file_heals_and_converges) {
  // Records written during the partition cannot reach their placement targets across it.
  auto file = write("partition.toml",
                    "[consortium]\nsites = 40\n[replication]\nrepair_period_s = 10\n[churn]\nfailure_rate_per_hour = 0\n"
                    "[partition]\nat_s = 20\nheal_s = 80\nfraction = 0.5\n[load]\nwrite_rate_per_s = 2\n"
                    "[run]\nduration_s = 160\nsample_s = 5\n");
  auto r = run("--scenario " + file.string(), "partition");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("20 s: partition starts"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("80 s: partition heals"), std::string::npos) << r.err;
  auto time = column(r.csv, 0), under = column(r.csv, 2);
  long worst_during = 0;
  for (std::size_t i = 0; i < time.size(); ++i)
    if (time[i] > 20 && time[i] <= 80) worst_during = std::max(worst_during, under[i]);
  EXPECT_GT(worst_during, 5);  // the partition bites
  // Converged: the last rows (more than 5 repair periods after the heal) have every record on
  // its live placement targets, writes of the last interval aside.
  for (std::size_t i = 0; i < time.size(); ++i)
    if (time[i] >= 140) {
      EXPECT_LE(under[i], 2) << "t = " << time[i];
    }
  EXPECT_EQ(under[time.size() - 4], 0);
}

TEST_F(dm2_sim, a_latency_matrix_file_sets_the_round_trips) {
  // Two regions 200 ms apart, 10 ms within; no jitter: a query waits for the farthest answer.
  auto matrix = write("m.csv", "# ms\n10, 200\n200, 10\n");
  auto r = run("--sites 20 --regions 2 --jitter 0 --failure-rate 0 --duration 30 --query-rate 1 --latency-matrix " +
                   matrix.string(),
               "matrix");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto latency = column(queries_csv("matrix"), 2);
  ASSERT_GT(latency.size(), 10u);
  for (auto l : latency) EXPECT_EQ(l, 200);
  // Sites x sites works too: 3 sites, one slow pair.
  auto sites = write("s.csv", "0,10,10\n10,0,300\n10,300,0\n");
  r = run("--sites 3 --jitter 0 --failure-rate 0 --duration 30 --query-rate 1 --latency-matrix " + sites.string(), "sites");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  latency = column(queries_csv("sites"), 2);
  ASSERT_GT(latency.size(), 10u);
  for (auto l : latency) EXPECT_TRUE(l == 10 || l == 300) << l;
}

TEST_F(dm2_sim, a_bad_latency_matrix_is_refused_with_the_reason) {
  struct bad {
    std::string text, reason;
  };
  for (const auto& b : std::vector<bad>{{"10,200\n200,10\n10,10\n", "rows"},
                                         {"10,200,5\n200,10\n", "3 values, expected 2"},
                                         {"10,-200\n200,10\n", "negative"},
                                         {"10,fast\n200,10\n", "'fast' is not a number"},
                                         {"10,\n200,10\n", "is not a number"},
                                         {"10,1e999\n200,10\n", "is not a number"}}) {
    auto matrix = write("bad.csv", b.text);
    auto file = write("bad.toml", "[consortium]\nsites = 20\nregions = 2\n[network]\nlatency_matrix = \"bad.csv\"\n");
    auto r = run("--scenario " + file.string() + " --duration 5", "bad");
    EXPECT_EQ(r.exit_code, 2) << b.text;
    EXPECT_NE(r.err.find("network.latency_matrix"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(b.reason), std::string::npos) << b.text << " -> " << r.err;
  }
  auto r = run("--sites 20 --regions 2 --latency-matrix " + (dir_ / "none.csv").string(), "none");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot read"), std::string::npos) << r.err;
}

TEST_F(dm2_sim, out_of_range_scenario_values_are_refused_with_the_key_named) {
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {"[network]\nloss = 2\n", "network.loss"},
           {"[consortium]\nsites = -5\n", "consortium.sites"},
           {"[consortium]\nregions = 0\n", "consortium.regions"},
           {"[load]\nquery_rate_per_s = -1\n", "load.query_rate_per_s"},
           {"[network]\nlatency_matrix = 3\n", "network.latency_matrix"},
           {"[consortium]\nregions = 3\n[outage]\nregion = 3\n", "outage.region"},
           {"[partition]\nat_s = 50\nheal_s = 10\n", "partition.heal_s"},
           {"[churn]\ndetection_delay_s = nan\n", "churn.detection_delay_s"},
           {"[processing]\nstore_us = -1\n", "processing.store_us"}}) {
    auto file = write("range.toml", text);
    auto r = run("--scenario " + file.string() + " --duration 5", "range");
    EXPECT_EQ(r.exit_code, 2) << text;
    EXPECT_NE(r.err.find(key), std::string::npos) << text << " -> " << r.err;
  }
}

TEST_F(dm2_sim, a_bad_scenario_is_refused_with_the_key_named) {
  auto typo = write("typo.toml", "[churn]\nfailure_rate = 2\n");
  auto r = run("--scenario " + typo.string(), "typo");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("churn.failure_rate"), std::string::npos) << r.err;
  auto type = write("type.toml", "[consortium]\nsites = \"many\"\n");
  r = run("--scenario " + type.string(), "type");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("consortium.sites"), std::string::npos) << r.err;
  auto syntax = write("syntax.toml", "[run\nseed = 1\n");
  r = run("--scenario " + syntax.string(), "syntax");
  EXPECT_EQ(r.exit_code, 2);
  r = run("--scenario " + (dir_ / "missing.toml").string(), "missing");
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(dm2_sim, the_latency_fitted_from_measured_round_trips_sets_the_calibration_measures) {
  // Round trips as overlay_bench writes them (sites 1..16, every ordered pair), fitted by
  // bench/fit_latency.py: each pair's 10th percentile; a constant sample has no jitter.
  auto fitted = [&](double rtt_ms, const std::string& name) {
    std::ostringstream rtt;
    rtt << "from,to,ms\n";
    for (int from = 1; from <= 16; ++from)
      for (int to = 1; to <= 16; ++to)
        for (int i = 0; from != to && i < 5; ++i) rtt << from << ',' << to << ',' << rtt_ms << '\n';
    auto in = write(name + "-rtt.csv", rtt.str());
    auto matrix = dir_ / (name + ".csv");
    auto jitter = dir_ / (name + ".jitter");
    auto cmd = "python3 " + std::string(DM2_SOURCE_DIR) + "/bench/fit_latency.py '" + in.string() + "' '" +
               matrix.string() + "' > '" + jitter.string() + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    EXPECT_EQ(slurp(jitter), "0.000\n");
    return matrix;
  };
  // Values of one measure in a calibration CSV (measure,value).
  auto measure = [](const std::string& csv, const std::string& name) {
    std::vector<double> out;
    std::istringstream in(csv);
    for (std::string line; std::getline(in, line);)
      if (line.starts_with(name + ",")) out.push_back(std::stod(line.substr(name.size() + 1)));
    return out;
  };
  // Processing costs in µs (message, store, query, hit, verify): none by default here, the
  // network alone; the scenario's own fitted ones are overridden.
  auto calibrate = [&](const fs::path& matrix, const std::string& name,
                       const std::string& processing = "0 0 0 0 0") {
    std::istringstream costs(processing);
    std::string flags;
    for (const char* flag : {"--message-us", "--store-us", "--query-us", "--hit-us", "--verify-us"}) {
      std::string us;
      costs >> us;
      flags += std::string(" ") + flag + " " + us;
    }
    auto out = dir_ / (name + "-calibration.csv");
    auto r = run("--scenario " + scenarios + "/calibration-16.toml --latency-matrix '" + matrix.string() +
                     "' --calibration '" + out.string() + "'" + flags,
                 name);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return slurp(out);
  };
  auto slow = calibrate(fitted(20, "slow"), "slow");
  // A write reaches its k holders one way later, a one-to-all query is done one round trip later.
  auto replicas = measure(slow, "replicas"), fanout = measure(slow, "fanout");
  ASSERT_GT(replicas.size(), 10u);
  ASSERT_GT(fanout.size(), 5u);
  for (double ms : replicas) EXPECT_EQ(ms, 10);
  for (double ms : fanout) EXPECT_EQ(ms, 20);
  // The kill of 5 of 16 is seen after the 3 s liveness timeout; repair takes messages.
  ASSERT_EQ(measure(slow, "restore").size(), 1u);
  EXPECT_GE(measure(slow, "restore")[0], 3000);
  EXPECT_LT(measure(slow, "restore")[0], 30000);
  EXPECT_GT(measure(slow, "repair_records")[0], 0);
  EXPECT_GT(measure(slow, "repair_messages")[0], 0);
  // Another fit moves the measures with it; the same fit gives the same rows byte for byte.
  auto fast = calibrate(fitted(8, "fast"), "fast");
  for (double ms : measure(fast, "replicas")) EXPECT_EQ(ms, 4);
  EXPECT_EQ(calibrate(fitted(8, "again"), "again"), fast);
  // Each site's processing adds to that: a holder takes 1 ms for the message, 1 ms to check the
  // owner's signature and 3 ms to commit; a queried site 1 + 2 ms, and the querier handles the
  // 15 answers one after the other (1 ms + 0.5 ms per hit each).
  auto busy = calibrate(fitted(20, "busy"), "busy", "1000 3000 2000 500 1000");
  replicas = measure(busy, "replicas");
  ASSERT_GT(replicas.size(), 10u);
  for (double ms : replicas) EXPECT_EQ(ms, 10 + 5);
  fanout = measure(busy, "fanout");
  ASSERT_GT(fanout.size(), 5u);
  std::sort(fanout.begin(), fanout.end());
  // A query matches a tenth of each site's 100 records: ~10 hits per answer, 6 ms each at the querier.
  EXPECT_NEAR(fanout[fanout.size() / 2], 20 + 3 + 15 * (1 + 10 * 0.5), 8);
  EXPECT_GE(fanout.front(), 20 + 3 + 15);  // at least the queue of 15 empty answers
}

// bench/fit_latency.py --processing on samples as overlay_bench writes them, with known parts:
// the fitted costs, run by the simulator, give back the nodes' share of the latencies.
TEST_F(dm2_sim, the_processing_fitted_from_real_samples_gives_back_their_latencies) {
  std::ostringstream samples, rtt;
  samples << "measure,value\nverify,0.1\n";
  // A record: the POST 5 ms, then 10.2 ms at the nodes, found by polls of 4 ms (2 ms late on average).
  for (int i = 0; i < 9; ++i) {
    samples << "write,5\nreplicas," << 5 + 10.2 + 2 << "\n";
    for (int p = 0; p < 5; ++p) samples << "poll,4\n";
  }
  // Queries: the POST 6 ms, the GET that found it done 3 ms (plus the bench's 2 ms pause: 2.5 ms
  // late on average); 12.1 ms at the nodes with no hit, 3 ms more with 20 hits per answer.
  for (const auto& [name, ms] : {std::pair{"fanout", 15.1}, std::pair{"fanout_empty", 12.1}})
    for (int i = 0; i < 7; ++i) samples << "query_post,6\nquery_get,3\n" << name << "," << 6 + ms + 2.5 << "\n";
  rtt << "from,to,ms\n";
  for (int from = 1; from <= 16; ++from)
    for (int to = 1; to <= 16; ++to)
      if (from != to) rtt << from << ',' << to << ",0.2\n";
  auto samples_csv = write("real.csv", samples.str()), rtt_csv = write("real-rtt.csv", rtt.str());
  auto fitted = dir_ / "fitted.txt";
  auto cmd = "python3 " + std::string(DM2_SOURCE_DIR) + "/bench/fit_latency.py --processing '" + samples_csv.string() +
             "' '" + rtt_csv.string() + "' > '" + fitted.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  // message = half the round trip; store = 10.2 - message - verify; query = 12.1 - 16 messages;
  // hit = 3 ms / (15 answers x 20 hits); verify as measured.
  EXPECT_EQ(slurp(fitted), "100 10000 10500 10 100\n");
  auto matrix = dir_ / "fitted.csv";
  cmd = "python3 " + std::string(DM2_SOURCE_DIR) + "/bench/fit_latency.py '" + rtt_csv.string() + "' '" +
        matrix.string() + "' > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto out = dir_ / "fitted-calibration.csv";
  auto r = run("--scenario " + scenarios + "/calibration-16.toml --latency-matrix '" + matrix.string() +
                   "' --jitter 0 --message-us 100 --store-us 10000 --query-us 10500 --hit-us 10 --verify-us 100"
                   " --calibration '" + out.string() + "'",
               "fitted");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<double> replicas, fanout;
  std::istringstream rows(slurp(out));
  for (std::string line; std::getline(rows, line);) {
    if (line.starts_with("replicas,")) replicas.push_back(std::stod(line.substr(9)));
    if (line.starts_with("fanout,")) fanout.push_back(std::stod(line.substr(7)));
  }
  ASSERT_GT(replicas.size(), 10u);
  ASSERT_GT(fanout.size(), 5u);
  // 0.2 ms round trips are 0 ms one way; a holder's 10.2 ms ends in the 11th.
  for (double ms : replicas) EXPECT_EQ(ms, 11);
  // The simulator's queries match a tenth of each site's records (~10 hits per answer, not the
  // real query's 20): 10.6 ms at the sites, then 15 answers of 0.1 + ~10 x 0.01 ms: ~13.6 ms.
  std::sort(fanout.begin(), fanout.end());
  EXPECT_NEAR(fanout[fanout.size() / 2], 14, 1);
}

TEST_F(dm2_sim, every_shipped_scenario_parses) {
  for (const auto& e : fs::directory_iterator(scenarios)) {
    if (e.path().extension() != ".toml") continue;
    // Parse and run a token slice of each, a few simulated seconds at 16 sites (the size of the
    // calibration scenario's sites x sites matrix).
    auto r = run("--scenario " + e.path().string() + " --sites 16 --duration 10", e.path().stem());
    EXPECT_EQ(r.exit_code, 0) << e.path() << ": " << r.err;
  }
}

}  // namespace
