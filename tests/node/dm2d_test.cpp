// dm2d as an operator runs it: a real process, real TLS, real files on disk.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>

#include "dm2/crypto/private_file.hpp"
#include "dm2/node/https_client.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace dm2::node {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr int exit_usage = 2, exit_config = 3, exit_data = 4, exit_port = 5;

// A TCP or UDP socket holding a loopback port for the test's duration.
class held_port {
 public:
  explicit held_port(int type) : fd_(::socket(AF_INET, type, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    if (type == SOCK_STREAM) ::listen(fd_, 1);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~held_port() { ::close(fd_); }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_;
  std::uint16_t port_ = 0;
};

class dm2d_test : public ::testing::Test {
 protected:
  test::temp_dir dir{"dm2d-test"};
  fs::path data = dir / "data";
  fs::path ready = dir / "ready.json";

  std::vector<std::string> args(std::vector<std::string> extra = {}) { return args_for(data, std::move(extra)); }

  std::vector<std::string> args_for(const fs::path& data_dir, std::vector<std::string> extra = {}) {
    std::vector<std::string> a = {"--data-dir", data_dir.string(), "--https-listen", "127.0.0.1:0",
                                  "--dht-listen", "127.0.0.1:0", "--ready-file", ready.string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  std::unique_ptr<test::child_process> start(const std::vector<std::string>& a, const std::string& name = "dm2d") {
    return std::make_unique<test::child_process>(test::built_program("node/dm2d"), a, dir.path(), name);
  }

  // Runs dm2d expecting it to fail at once; returns its exit code and keeps its stderr.
  int run_failing(const std::vector<std::string>& a, std::string& err) {
    auto p = start(a, "failing");
    auto code = p->wait(30s);
    err = p->stderr_text();
    return code.value_or(-1);
  }

  nlohmann::json wait_ready() {
    EXPECT_TRUE(test::wait_for_file(ready, 30s)) << "dm2d did not become ready";
    return nlohmann::json::parse(*crypto::read_file(ready));
  }

  result<client_response> get(std::uint16_t port, const std::string& path) {
    auto ca = crypto::read_file(data / "identity" / "ca.crt");
    if (!ca) return ca.err();
    return https_request({"127.0.0.1", port}, {*ca, "", ""}, "GET", path);
  }
};

TEST_F(dm2d_test, first_start_creates_identity_and_answers_health_over_verified_tls) {
  auto p = start(args());
  auto info = wait_ready();
  auto port = info["https_port"].get<std::uint16_t>();
  auto health = get(port, "/health");
  ASSERT_TRUE(health.ok()) << health.err().to_string();
  EXPECT_EQ(health->status, 200);
  auto body = nlohmann::json::parse(health->body);
  EXPECT_EQ(body["status"], "ok");
  EXPECT_EQ(body["site"], "dev-site");

  auto metrics = get(port, "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->body.find("dm2_http_requests_total{route=\"/health\",code=\"200\"} 1"), std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("# TYPE dm2_uptime_seconds gauge"), std::string::npos);

  for (auto key : {"ca/ca.key", "identity/site.key", "identity/dht.key", "identity/seal.key", "identity/storage.key"}) {
    struct stat st {};
    ASSERT_EQ(::stat((data / key).c_str(), &st), 0) << key;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << key;
  }
  p->signal(SIGTERM);
  EXPECT_EQ(p->wait(30s), 0);
  EXPECT_FALSE(fs::exists(ready)) << "the ready file is removed on a clean stop";
  EXPECT_NE(p->stderr_text().find("event=stopped"), std::string::npos);
}

TEST_F(dm2d_test, tls_with_another_ca_is_refused_by_the_client) {
  auto p = start(args());
  auto port = wait_ready()["https_port"].get<std::uint16_t>();
  test::temp_dir other;
  auto q = start({"--data-dir", (other / "data").string(), "--https-listen", "127.0.0.1:0",
                  "--dht-listen", "127.0.0.1:0", "--ready-file", (other / "ready.json").string()},
                 "other");
  ASSERT_TRUE(test::wait_for_file(other / "ready.json", 30s));
  auto other_ca = crypto::read_file(other / "data" / "identity" / "ca.crt");
  auto r = https_request({"127.0.0.1", port}, {*other_ca, "", ""}, "GET", "/health");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.err().message.find("certificate verify failed"), std::string::npos) << r.err().message;
}

TEST_F(dm2d_test, restart_reuses_the_identity) {
  std::string fingerprint;
  {
    auto p = start(args());
    wait_ready();
    p->signal(SIGINT);
    ASSERT_EQ(p->wait(30s), 0);
    fingerprint = p->stderr_text().substr(p->stderr_text().find("fingerprint=") + 12, 64);
  }
  auto keys_before = test::snapshot_tree(data / "identity") + test::snapshot_tree(data / "ca");
  auto p = start(args(), "second");
  auto port = wait_ready()["https_port"].get<std::uint16_t>();
  EXPECT_TRUE(get(port, "/health").ok());
  EXPECT_EQ(test::snapshot_tree(data / "identity") + test::snapshot_tree(data / "ca"), keys_before);
  EXPECT_NE(p->stderr_text().find("fingerprint=" + fingerprint), std::string::npos);
  EXPECT_EQ(p->stderr_text().find("event=identity_created"), std::string::npos);
}

TEST_F(dm2d_test, a_second_daemon_on_the_same_data_dir_is_refused) {
  auto p = start(args());
  wait_ready();
  std::string err;
  EXPECT_EQ(run_failing({"--data-dir", data.string(), "--https-listen", "127.0.0.1:0", "--dht-listen",
                         "127.0.0.1:0"},
                        err),
            exit_data);
  EXPECT_NE(err.find("lock"), std::string::npos) << err;
}

TEST_F(dm2d_test, invalid_config_file_exits_3_and_writes_nothing) {
  auto config = dir / "dm2.toml";
  std::ofstream(config) << "[https]\nlisten = \"127.0.0.1:8443\"\nbody_limt = 5\n";
  std::string err;
  EXPECT_EQ(run_failing(args({"--config", config.string()}), err), exit_config);
  EXPECT_NE(err.find("unknown key 'https.body_limt'"), std::string::npos) << err;
  EXPECT_NE(err.find("dm2.toml:3"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(data));

  std::ofstream(config) << "this is not toml";
  EXPECT_EQ(run_failing(args({"--config", config.string()}), err), exit_config);
  EXPECT_FALSE(fs::exists(data));
}

TEST_F(dm2d_test, unknown_flag_and_bad_flag_values_exit_2_and_write_nothing) {
  std::string err;
  EXPECT_EQ(run_failing(args({"--no-such-flag"}), err), exit_usage);
  EXPECT_NE(err.find("--no-such-flag"), std::string::npos) << err;
  EXPECT_EQ(run_failing({"--data-dir", data.string(), "--https-listen", "0.0.0.0:8443"}, err), exit_usage);
  EXPECT_NE(err.find("explicit address"), std::string::npos) << err;
  EXPECT_EQ(run_failing(args({"--config", (dir / "missing.toml").string()}), err), exit_usage);
  EXPECT_FALSE(fs::exists(data));
}

TEST_F(dm2d_test, occupied_ports_exit_5_and_write_nothing) {
  held_port tcp(SOCK_STREAM);
  std::string err;
  EXPECT_EQ(run_failing({"--data-dir", data.string(), "--https-listen", tcp.endpoint(), "--dht-listen", "127.0.0.1:0"},
                        err),
            exit_port);
  EXPECT_NE(err.find("cannot listen on " + tcp.endpoint() + " for HTTPS"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(data));

  held_port udp(SOCK_DGRAM);
  EXPECT_EQ(run_failing({"--data-dir", data.string(), "--https-listen", "127.0.0.1:0", "--dht-listen", udp.endpoint()},
                        err),
            exit_port);
  EXPECT_NE(err.find(udp.endpoint() + "/udp"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(data));
}

TEST_F(dm2d_test, unusable_data_dir_exits_4_and_writes_nothing) {
  // A path below a regular file can never be created, even by root (CI runs as root).
  auto file = dir / "a-file";
  std::ofstream(file) << "x";
  auto before = test::snapshot_tree(dir.path());
  std::string err;
  EXPECT_EQ(run_failing(args_for(file / "data"), err), exit_data);
  EXPECT_NE(err.find("is not a directory"), std::string::npos) << err;

  if (::geteuid() != 0) {  // permissions do not stop root
    fs::create_directory(dir / "locked");
    ::chmod((dir / "locked").c_str(), 0500);
    EXPECT_EQ(run_failing(args_for(dir / "locked" / "data"), err), exit_data);
    EXPECT_NE(err.find("not writable"), std::string::npos) << err;
    ::chmod((dir / "locked").c_str(), 0700);
    fs::remove(dir / "locked");
  }
  // Only the failing runs' captured output was added.
  auto after = test::snapshot_tree(dir.path());
  EXPECT_EQ(after.find("data"), std::string::npos) << after;
}

TEST_F(dm2d_test, a_readable_key_file_stops_the_daemon) {
  {
    auto p = start(args());
    wait_ready();
    p->signal(SIGTERM);
    ASSERT_EQ(p->wait(30s), 0);
  }
  ::chmod((data / "identity" / "dht.key").c_str(), 0644);
  std::string err;
  EXPECT_EQ(run_failing(args(), err), exit_data);
  EXPECT_NE(err.find("chmod 600"), std::string::npos) << err;
}

TEST_F(dm2d_test, help_describes_the_defaults) {
  auto p = start({"--help"}, "help");
  EXPECT_EQ(p->wait(10s), 0);
  auto out = p->stdout_text();
  for (auto word : {"--config", "--data-dir", "--https-listen", "127.0.0.1:8443", "6881", "./dm2-data"})
    EXPECT_NE(out.find(word), std::string::npos) << word;
}

TEST_F(dm2d_test, dm2_status_and_init) {
  auto init = std::make_unique<test::child_process>(test::built_program("node/dm2"),
                                                    std::vector<std::string>{"init", "--data-dir", data.string()},
                                                    dir.path(), "init");
  ASSERT_EQ(init->wait(30s), 0) << init->stderr_text();
  EXPECT_TRUE(nlohmann::json::parse(init->stdout_text())["created"].get<bool>());

  auto p = start(args());
  auto port = wait_ready()["https_port"].get<std::uint16_t>();
  EXPECT_EQ(p->stderr_text().find("event=identity_created"), std::string::npos) << "dm2 init made it";
  auto status = std::make_unique<test::child_process>(
      test::built_program("node/dm2"),
      std::vector<std::string>{"status", "--data-dir", data.string(), "--node", "127.0.0.1:" + std::to_string(port)},
      dir.path(), "status");
  ASSERT_EQ(status->wait(30s), 0) << status->stderr_text();
  EXPECT_EQ(nlohmann::json::parse(status->stdout_text())["status"], "ok");

  p->signal(SIGTERM);
  p->wait(30s);
  auto down = std::make_unique<test::child_process>(
      test::built_program("node/dm2"),
      std::vector<std::string>{"status", "--data-dir", data.string(), "--node", "127.0.0.1:" + std::to_string(port)},
      dir.path(), "down");
  EXPECT_EQ(down->wait(30s), 5);
  EXPECT_NE(down->stderr_text().find("Connection refused"), std::string::npos) << down->stderr_text();
}

}  // namespace
}  // namespace dm2::node
