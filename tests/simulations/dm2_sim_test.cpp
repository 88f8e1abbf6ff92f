// dm2-sim as an engineer runs it: scenario files in, CSV out. Small runs (seconds).
#include <gtest/gtest.h>

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
    std::istringstream in(csv);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream cells(line);
      std::string cell;
      for (int i = 0; i <= col && std::getline(cells, cell, ','); ++i) {
      }
      out.push_back(std::stol(cell));
    }
    return out;
  }
  fs::path dir_;
};

const std::string scenarios = DM2_SIM_SCENARIOS;

TEST_F(dm2_sim, the_same_seed_writes_the_same_csv_byte_for_byte) {
  auto args = "--scenario " + scenarios + "/heavy-churn-2of3.toml --sites 60 --duration 300";
  auto a = run(args, "a");
  auto b = run(args, "b");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_GT(a.csv.size(), 100u);
  EXPECT_EQ(a.csv, b.csv);
  auto c = run(args + " --seed 99", "c");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(a.csv, c.csv);  // the seed matters (churn differs)
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

TEST_F(dm2_sim, every_shipped_scenario_parses) {
  for (const auto& e : fs::directory_iterator(scenarios)) {
    if (e.path().extension() != ".toml") continue;
    // Parse and run a token slice of each: the scenario's own size, a few simulated seconds.
    auto r = run("--scenario " + e.path().string() + " --sites 20 --duration 10", e.path().stem());
    EXPECT_EQ(r.exit_code, 0) << e.path() << ": " << r.err;
  }
}

}  // namespace
