#include "dm2/node/config.hpp"

#include <gtest/gtest.h>

namespace dm2::node {
namespace {

TEST(config, empty_file_gives_the_embedded_defaults) {
  auto c = parse_config("", "test.toml");
  ASSERT_TRUE(c.ok()) << c.err().to_string();
  EXPECT_EQ(c->data_dir, "./dm2-data");
  EXPECT_EQ(c->https.to_string(), "127.0.0.1:8443");
  EXPECT_EQ(c->dht.to_string(), "127.0.0.1:6881");
  EXPECT_EQ(c->log_level, "info");
  EXPECT_EQ(c->rescan_period.count(), 86400);  // a daily re-scan of the last week
  EXPECT_EQ(c->rescan_days, 7u);
}

TEST(config, every_section_is_read) {
  auto c = parse_config(R"(
[node]
data_dir = "/var/lib/dm2"
site_name = "chu-lyon"
[https]
listen = "10.1.2.3:9443"
body_limit = 4096
request_timeout_s = 5
io_threads = 4
[dht]
listen = "[::1]:7000"
[log]
level = "debug"
[pacs]
host = "10.0.0.9"
port = 104
called_ae_title = "PACS"
calling_ae_title = "DM2LYON"
associations = 8
timeout_s = 60
store_port = 0
store_address = "127.0.0.5"
rescan_period_s = 0
rescan_days = 30
[overlay]
probe_rate = 50
tree_fanout_min_sites = 64
)", "test.toml");
  ASSERT_TRUE(c.ok()) << c.err().to_string();
  EXPECT_EQ(c->data_dir, "/var/lib/dm2");
  EXPECT_EQ(c->site_name, "chu-lyon");
  EXPECT_EQ(c->https.address, "10.1.2.3");
  EXPECT_EQ(c->https.port, 9443);
  EXPECT_EQ(c->body_limit, 4096u);
  EXPECT_EQ(c->request_timeout.count(), 5);
  EXPECT_EQ(c->io_threads, 4u);
  EXPECT_EQ(c->dht.address, "::1");
  EXPECT_EQ(c->dht.port, 7000);
  EXPECT_EQ(c->log_level, "debug");
  EXPECT_EQ(c->pacs.host, "10.0.0.9");
  EXPECT_EQ(c->pacs.port, 104);
  EXPECT_EQ(c->pacs.associations, 8u);
  EXPECT_EQ(c->pacs.timeout.count(), 60);
  EXPECT_EQ(c->pacs.store_port, 0);
  EXPECT_EQ(c->pacs.store_address, "127.0.0.5");
  EXPECT_EQ(c->rescan_period.count(), 0);
  EXPECT_EQ(c->rescan_days, 30u);
  EXPECT_EQ(c->probe_rate, 50u);
  EXPECT_EQ(c->tree_fanout_min_sites, 64u);
}

struct bad_case {
  const char* toml;
  const char* expected_in_message;
};

TEST(config, bad_files_are_refused_with_the_line_and_the_key) {
  const bad_case cases[] = {
      {"[node]\ndata_dri = \"x\"\n", "unknown key 'node.data_dri'"},
      {"[nodes]\ndata_dir = \"x\"\n", "unknown key 'nodes.data_dir'"},
      {"[https]\nlisten = 8443\n", "https.listen must be a string"},
      {"[https]\nlisten = \"0.0.0.0:8443\"\n", "explicit address"},
      {"[https]\nlisten = \"127.0.0.1:99999\"\n", "out of range"},
      {"[https]\nlisten = \"localhost:8443\"\n", "not an IP address"},
      {"[https]\nio_threads = 0\n", "https.io_threads must be in 1..64"},
      {"[https]\nbody_limit = \"big\"\n", "must be an integer"},
      {"[log]\nlevel = \"loud\"\n", "log.level"},
      {"[tls]\ncertificate = \"/etc/dm2/site.crt\"\n", "go together"},
      {"[pacs]\ncalled_ae_title = \"WAY_TOO_LONG_AE_TITLE\"\n", "called_ae_title"},
      {"data_dir = \"x\"\n", "must be a [section]"},
      {"[node\n", "test.toml:1"},
      {"[node]\nsite_name = \"bad name\"\n", "site_name"},
      {"[overlay]\nprobe_rate = 0\n", "overlay.probe_rate must be in 1..10000"},
      {"[overlay]\ntree_fanout_min_sites = 1\n", "overlay.tree_fanout_min_sites must be in 2..1000000"},
      {"[pacs]\nrescan_days = 0\n", "pacs.rescan_days must be in 1..36500"},
      {"[pacs]\nrescan_period_s = -1\n", "pacs.rescan_period_s must be in 0..31622400"},
  };
  for (const auto& c : cases) {
    auto r = parse_config(c.toml, "test.toml");
    ASSERT_FALSE(r.ok()) << c.toml;
    EXPECT_EQ(r.err().code, errc::invalid_config) << c.toml;
    EXPECT_NE(r.err().message.find(c.expected_in_message), std::string::npos)
        << c.toml << " -> " << r.err().message;
  }
}

TEST(config, missing_file_is_not_found) {
  auto r = load_config_file("/nonexistent/dm2.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.err().code, errc::not_found);
}

}  // namespace
}  // namespace dm2::node
