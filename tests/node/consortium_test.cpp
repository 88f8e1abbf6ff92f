// Three real dm2d processes forming a consortium on 127.77.X.1..3, set up with the real
// `dm2 ca` and `dm2 roster` commands: roster spread (the DHT announcement the operator signs,
// then a mutual-TLS fetch from a member), admission of peers by certificate, and revocation by
// removal from the roster;
// replication of records and the similarity query.
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/dht/message_codec.hpp"
#include "dm2/node/https_client.hpp"
#include "dm2/node/tls.hpp"
#include "dm2/storage/database.hpp"
#include "https_server.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace dm2::node {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
namespace fs = std::filesystem;

constexpr std::uint16_t https_port = 18443;
constexpr std::uint16_t dht_port = 16881;

// ctest runs tests in parallel processes: each process takes its own 127.77.X.0/24 block.
std::string address(int site) {
  static const int block = 10 + static_cast<int>(::getpid() % 240);
  return "127.77." + std::to_string(block) + "." + std::to_string(site);
}

class consortium_test : public ::testing::Test {
 protected:
  test::temp_dir dir{"dm2-consortium"};
  fs::path roster = dir / "roster.json";
  fs::path ca_dir = dir / "consortium";
  std::map<int, std::unique_ptr<test::child_process>> nodes;
  int commands = 0;

  fs::path site_dir(int site) { return dir / ("site-" + std::to_string(site)); }

  // Runs `dm2 args...` and returns its exit code.
  int dm2(std::vector<std::string> args) {
    test::child_process p(test::built_program("node/dm2"), args, dir.path(), "dm2-" + std::to_string(commands++));
    auto code = p.wait(60s).value_or(-1);
    last_err = p.stderr_text();
    return code;
  }
  std::string last_err;

  void SetUp() override {
    ASSERT_EQ(dm2({"ca", "init", "--dir", ca_dir.string(), "--name", "Test Consortium"}), 0) << last_err;
    for (int site : {1, 2, 3}) {
      ASSERT_EQ(dm2({"ca", "issue-site", "site-" + std::to_string(site), "--ca-dir", ca_dir.string(), "--out",
                     (site_dir(site) / "identity").string(), "--ip", address(site)}),
                0)
          << last_err;
      std::ofstream(dir / ("site-" + std::to_string(site) + ".toml"))
          << "[node]\ndata_dir = \"" << site_dir(site).string() << "\"\nsite_name = \"site-" << site
          << "\"\n[https]\nlisten = \"" << address(site) << ":" << https_port << "\"\n[dht]\nlisten = \""
          << address(site) << ":" << dht_port << "\"\n[consortium]\nroster = \"" << (dir / "roster-v1.json").string()
          << "\"\npublic_key = \"" << consortium_key() << "\"\nroster_refresh_s = 1\n";
    }
    add_to_roster(1);
    add_to_roster(2);
    sign();  // v1: sites 1 and 2; site 3 is accredited by the CA but not on the roster
    fs::copy_file(roster, dir / "roster-v1.json");
    for (int site : {1, 2, 3}) start(site);
  }

  std::string consortium_key() {
    auto text = *crypto::read_file(ca_dir / "consortium.pub");
    return text.substr(0, text.find_last_not_of("\r\n ") + 1);
  }

  void add_to_roster(int site) {
    ASSERT_EQ(dm2({"roster", "add", "--roster", roster.string(), "--site-dir", (site_dir(site) / "identity").string(),
                   "--https", address(site) + ":" + std::to_string(https_port), "--dht",
                   address(site) + ":" + std::to_string(dht_port)}),
              0)
        << last_err;
  }
  void sign() { ASSERT_EQ(dm2({"roster", "sign", "--roster", roster.string(), "--ca-dir", ca_dir.string()}), 0) << last_err; }
  // With the announcement (signed with the consortium key of --ca-dir) unless `announce` is false.
  int publish_to(int site, const fs::path& file, bool announce = true) {
    std::vector<std::string> args{"roster", "publish", "--roster", file.string(), "--node",
                                  address(site) + ":" + std::to_string(https_port), "--ca", (ca_dir / "ca.crt").string()};
    if (announce) args.insert(args.end(), {"--ca-dir", ca_dir.string()});
    return dm2(args);
  }

  // A log line of a running node, e.g. "event=roster_adopted version=2 from=site-1".
  bool logged(int site, const std::string& text) {
    return nodes[site]->stderr_text().find(text) != std::string::npos;
  }

  void start(int site) {
    auto name = "site-" + std::to_string(site);
    fs::remove(dir / (name + ".ready"));  // left behind by a killed node
    nodes[site] = std::make_unique<test::child_process>(
        test::built_program("node/dm2d"),
        std::vector<std::string>{"--config", (dir / (name + ".toml")).string(), "--ready-file", (dir / (name + ".ready")).string()},
        dir.path(), name + "-" + std::to_string(commands++));
    auto& node = *nodes[site];
    ASSERT_TRUE(eventually([&] { return fs::exists(dir / (name + ".ready")) || !node.running(); }, 30s));
    ASSERT_TRUE(node.running()) << node.stderr_text();
    ASSERT_TRUE(test::wait_for_file(dir / (name + ".ready"), 5s));
  }

  void stop(int site) {
    nodes[site]->signal(SIGTERM);
    ASSERT_EQ(nodes[site]->wait(30s), 0);
    nodes.erase(site);
  }

  // GET `path` on `site`'s node presenting `as_site`'s certificate (0: no certificate).
  result<client_response> get(int site, const std::string& path, int as_site) {
    auto ca = *crypto::read_file(ca_dir / "ca.crt");
    tls_material tls{ca, "", ""};
    if (as_site != 0) {
      tls.certificate_pem = *crypto::read_file(site_dir(as_site) / "identity" / "site.crt");
      tls.private_key_pem = *crypto::read_file(site_dir(as_site) / "identity" / "site.key");
    }
    return https_request({address(site), https_port}, tls, "GET", path);
  }

  result<client_response> post(int site, const std::string& path, const std::string& body, int as_site) {
    auto ca = *crypto::read_file(ca_dir / "ca.crt");
    tls_material tls{ca, *crypto::read_file(site_dir(as_site) / "identity" / "site.crt"),
                     *crypto::read_file(site_dir(as_site) / "identity" / "site.key")};
    return https_request({address(site), https_port}, tls, "POST", path, body);
  }

  int roster_status(int site, int as_site) {
    auto r = get(site, "/v1/roster", as_site);
    return r ? r->status : -1;
  }

  std::uint64_t roster_version_at(int site, int as_site) {
    auto r = get(site, "/v1/roster", as_site);
    if (!r || r->status != 200) return 0;
    return nlohmann::json::parse(r->body)["roster"]["version"].get<std::uint64_t>();
  }

  static std::string ingest_body(const std::string& lfn, const std::string& modality) {
    nlohmann::json body = {{"lfn", lfn},
                           {"attributes", {{"modality", modality}, {"body_part", "CHEST"}, {"study_date", "20240115"}}},
                           {"signature_hex", "c0ffee"}};
    return body.dump();
  }

  // The version of `site`'s local copy of a record (asking as that site); 0 when it has none.
  std::uint64_t record_version_at(int site, const std::string& lfn) {
    auto r = get(site, "/v1/records?lfn=" + lfn, site);
    if (!r || r->status != 200) return 0;
    return nlohmann::json::parse(r->body)["version"].get<std::uint64_t>();
  }

  template <class Predicate>
  bool eventually(Predicate p, std::chrono::seconds limit = 20s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (p()) return true;
      std::this_thread::sleep_for(100ms);
    }
    return p();
  }
};

TEST_F(consortium_test, roster_spreads_admits_members_and_cuts_off_removed_sites) {
  // Members get the roster; a certificate from the same CA that is not on it, or none, does not.
  EXPECT_EQ(roster_status(1, 2), 200);
  EXPECT_EQ(roster_status(2, 1), 200);
  EXPECT_EQ(roster_status(1, 3), 403);
  EXPECT_EQ(roster_status(1, 0), 403);
  EXPECT_NE(nodes[3]->stderr_text().find("event=not_on_roster"), std::string::npos);

  // v2 adds site 3: published to node 1 only. Nodes 2 and 3 see the announcement in the DHT and
  // fetch v2 from a member over mutual TLS (roster_sync logs the adoption with its source;
  // nothing else adopts a roster without a POST).
  add_to_roster(3);
  sign();
  ASSERT_EQ(publish_to(1, roster), 0) << last_err;
  EXPECT_EQ(roster_version_at(1, 2), 2u);
  EXPECT_TRUE(eventually([&] { return roster_version_at(2, 1) == 2; }, 30s)) << "node 2 did not adopt v2";
  EXPECT_TRUE(eventually([&] { return roster_version_at(3, 3) == 2; }, 30s)) << "node 3 did not adopt v2";
  EXPECT_TRUE(eventually([&] { return roster_status(2, 3) == 200; }));
  EXPECT_TRUE(logged(2, "event=roster_adopted version=2 from=site-1")) << nodes[2]->stderr_text();
  EXPECT_TRUE(logged(3, "event=roster_adopted version=2 from=site-")) << nodes[3]->stderr_text();
  auto metrics = get(2, "/metrics", 0);
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("dm2_roster_adoptions_total{via=\"announcement\"} 1"), std::string::npos) << metrics->body;

  // The overlay sees its peers.
  EXPECT_TRUE(eventually([&] {
    auto r = get(1, "/v1/overlay", 1);
    return r && r->status == 200 && nlohmann::json::parse(r->body)["routing_table_size"].get<int>() >= 2;
  })) << "routing table of node 1 did not fill";

  // v3 removes site 2: every node cuts it off within a refresh.
  ASSERT_EQ(dm2({"roster", "remove", "site-2", "--roster", roster.string()}), 0) << last_err;
  sign();
  fs::copy_file(roster, dir / "roster-v3.json");
  ASSERT_EQ(publish_to(1, roster), 0) << last_err;
  EXPECT_EQ(roster_status(1, 2), 403);
  EXPECT_TRUE(eventually([&] { return roster_status(3, 2) == 403; }, 30s)) << "node 3 still admits a removed site";
  EXPECT_EQ(roster_status(3, 1), 200);

  // v4 with an announcement signature that is not the consortium's: refused before anything is
  // adopted. The bare document (the body before announcements) is no longer a request.
  sign();
  nlohmann::json forged = {{"document", *crypto::read_file(roster)}, {"announcement_signature", std::string(128, '0')}};
  auto refused = post(1, "/v1/roster", forged.dump(), 1);
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 422) << refused->body;
  EXPECT_EQ(post(1, "/v1/roster", *crypto::read_file(roster), 1)->status, 400);
  EXPECT_EQ(roster_version_at(1, 1), 3u);

  // An old roster and a tampered one are refused and change nothing, announced or not.
  EXPECT_EQ(publish_to(1, dir / "roster-v1.json"), 5);
  EXPECT_NE(last_err.find("stale_version"), std::string::npos) << last_err;
  EXPECT_EQ(publish_to(1, dir / "roster-v1.json", false), 5);
  auto text = *crypto::read_file(roster);
  text[text.find("site-1")] = 'S';
  std::ofstream(dir / "tampered.json") << text;
  EXPECT_EQ(publish_to(1, dir / "tampered.json"), 5);
  EXPECT_EQ(roster_version_at(1, 1), 3u);
  std::this_thread::sleep_for(2500ms);  // two refresh periods: nobody moved
  EXPECT_EQ(roster_version_at(1, 1), 3u);
  EXPECT_EQ(roster_version_at(3, 3), 3u);

  // A restarted node keeps the newest roster it adopted, not the v1 of its config file.
  stop(1);
  start(1);
  EXPECT_EQ(roster_version_at(1, 3), 3u);
  EXPECT_EQ(roster_status(1, 2), 403);
}

// A member that serves a tampered roster: an in-process HTTPS server with a real site
// certificate ("site-0", first in roster order), on the roster but running no dm2d.
class lying_member {
 public:
  lying_member(const std::string& at, const tls_material& tls) {
    auto server = https_server::listen(io_, {at, https_port});
    if (!server) return;
    server_ = *server;
    server_->start(*make_server_tls(tls),
                   [this](const http_request&) {
                     std::lock_guard lock(mutex_);
                     return http_response{200, "application/json", {}, document_};
                   },
                   {});
    thread_ = std::thread([this] { io_.run(); });
  }
  ~lying_member() {
    if (server_) server_->stop();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  bool running() const { return server_ != nullptr; }
  void serve(std::string document) {
    std::lock_guard lock(mutex_);
    document_ = std::move(document);
  }

 private:
  boost::asio::io_context io_;
  std::shared_ptr<https_server> server_;
  std::thread thread_;
  std::mutex mutex_;
  std::string document_;
};

TEST_F(consortium_test, a_tampered_roster_from_a_lying_member_is_refused_and_an_honest_member_serves_it) {
  // v2: site-0 (the liar, at address 4) joins sites 1 and 2.
  ASSERT_EQ(dm2({"ca", "issue-site", "site-0", "--ca-dir", ca_dir.string(), "--out", (site_dir(0) / "identity").string(),
                 "--ip", address(4)}),
            0)
      << last_err;
  ASSERT_EQ(dm2({"roster", "add", "--roster", roster.string(), "--site-dir", (site_dir(0) / "identity").string(),
                 "--https", address(4) + ":" + std::to_string(https_port), "--dht",
                 address(4) + ":" + std::to_string(dht_port)}),
            0)
      << last_err;
  sign();
  lying_member liar(address(4), {*crypto::read_file(ca_dir / "ca.crt"),
                                 *crypto::read_file(site_dir(0) / "identity" / "site.crt"),
                                 *crypto::read_file(site_dir(0) / "identity" / "site.key")});
  ASSERT_TRUE(liar.running());
  ASSERT_EQ(publish_to(1, roster), 0) << last_err;
  ASSERT_TRUE(eventually([&] { return roster_version_at(2, 2) == 2; }, 30s)) << "node 2 did not adopt v2";

  // v3, published to node 1: node 2 asks site-0 first, which serves it tampered.
  sign();
  auto v3 = *crypto::read_file(roster);
  auto tampered = v3;
  tampered[tampered.find("site-1")] = 'S';
  liar.serve(tampered);
  ASSERT_EQ(publish_to(1, roster), 0) << last_err;
  EXPECT_TRUE(eventually([&] { return roster_version_at(2, 2) == 3; }, 30s)) << "node 2 did not adopt v3";
  EXPECT_TRUE(logged(2, "event=roster_refused peer=site-0")) << nodes[2]->stderr_text();
  EXPECT_TRUE(logged(2, "event=roster_adopted version=3 from=site-1")) << nodes[2]->stderr_text();
  EXPECT_EQ(get(2, "/v1/roster", 2)->body, v3);
}

TEST_F(consortium_test, a_record_written_at_one_node_is_read_at_another_over_mutual_tls) {
  const std::string lfn = "00112233445566778899aabbccddeeff";
  auto written = post(1, "/v1/records", ingest_body(lfn, "CT"), 1);
  ASSERT_TRUE(written.ok()) << written.err().to_string();
  ASSERT_EQ(written->status, 201) << written->body;
  auto answer = nlohmann::json::parse(written->body);
  EXPECT_EQ(answer["lfn"], lfn);
  EXPECT_EQ(answer["version"], 1);
  // Sites 1 and 2 are the only members: site 2 is the record's one replica holder.
  EXPECT_TRUE(eventually([&] { return record_version_at(2, lfn) == 1; })) << "the record did not reach site 2";
  auto copy = nlohmann::json::parse(get(2, "/v1/records?lfn=" + lfn, 2)->body);
  EXPECT_EQ(copy["owner"], "site-1");
  EXPECT_EQ(copy["attributes"]["modality"], "CT");
  EXPECT_EQ(copy["attributes"]["body_part"], "CHEST");
  EXPECT_EQ(copy["signature_size"], 3);
  EXPECT_EQ(copy["owner_signature_size"], 64);
  // Site 3 is not a member: it gets no copy, and its messages are refused.
  EXPECT_EQ(get(3, "/v1/records?lfn=" + lfn, 3)->status, 404);
  auto forged = post(1, "/v1/overlay/message", "\x01\x03garbage", 3);
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(forged->status, 403);
  auto malformed = post(1, "/v1/overlay/message", "\x01\x03garbage", 2);
  ASSERT_TRUE(malformed.ok());
  EXPECT_EQ(malformed->status, 400);
  // Bad bodies are refused with a JSON error and store nothing.
  for (std::string bad : {std::string("not json"), R"({"lfn":"0011"})"s, R"({"lfn":")" + lfn + R"(","colour":"x"})",
                          R"({"lfn":")" + lfn + R"(","attributes":{"study_date":"yesterday"}})",
                          R"({"lfn":")" + lfn + R"(","attributes":{"modality":1}})",
                          R"({"lfn":")" + lfn + R"(","signature_hex":"xyz"})"}) {
    auto refused = post(1, "/v1/records", bad, 1);
    ASSERT_TRUE(refused.ok());
    EXPECT_EQ(refused->status, 400) << bad;
    EXPECT_TRUE(nlohmann::json::parse(refused->body, nullptr, false).is_object()) << refused->body;
  }
  EXPECT_EQ(record_version_at(1, lfn), 1u);
  // A second write is version 2 and replaces the replica.
  auto second = post(1, "/v1/records", ingest_body(lfn, "MR"), 1);
  ASSERT_EQ(second->status, 201) << second->body;
  EXPECT_EQ(nlohmann::json::parse(second->body)["version"], 2);
  EXPECT_TRUE(eventually([&] { return record_version_at(2, lfn) == 2; }));
  // Site 2 holds it for site 1: its operator may not write over it (the policy: another site's).
  auto taken = post(2, "/v1/records", ingest_body(lfn, "US"), 2);
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(taken->status, 403) << taken->body;
  EXPECT_EQ(record_version_at(2, lfn), 2u);
  auto status = nlohmann::json::parse(get(1, "/v1/overlay", 1)->body);
  EXPECT_EQ(status["roster_version"], 1);
  EXPECT_GE(status["records_held"].get<int>(), 1);

  // The operator's view through the CLI, as this site (its certificate from the data directory).
  ASSERT_EQ(dm2({"overlay", "status", "--config", (dir / "site-2.toml").string()}), 0) << last_err;
  auto out = *crypto::read_file(dir / ("dm2-" + std::to_string(commands - 1) + ".out"));
  EXPECT_NE(out.find("site:             site-2"), std::string::npos) << out;
  EXPECT_NE(out.find("roster version:   1"), std::string::npos) << out;
  EXPECT_NE(out.find("survives:         any "), std::string::npos) << out;
  EXPECT_NE(out.find("(k = 5;"), std::string::npos) << out;

  // Each write and read was audited at site 1: who (site certificate), what, which LFN.
  stop(1);
  auto db = storage::database::open(site_dir(1) / "db", *crypto::read_file(site_dir(1) / "identity" / "storage.key"));
  ASSERT_TRUE(db.ok()) << db.err().to_string();
  std::vector<std::string> entries;
  for (std::uint64_t i = 0; i < (*db)->audit_size(); ++i) {
    auto e = (*db)->read_audit(i);
    ASSERT_TRUE(e.ok() && e->has_value());
    const auto& ev = (**e).event;
    if (ev.object == lfn) entries.push_back(ev.actor + " " + ev.action + " " + ev.decision);
  }
  // (The refused bodies in between left no entry.)
  EXPECT_EQ(entries, (std::vector<std::string>{"site:site-1 record_put allowed", "site:site-1 record_get allowed",
                                               "site:site-1 record_put allowed"}));
}

// A replica lives on disk: with the owner down (no peer could repair it), the holder is killed
// and restarted and still serves the record at once.
TEST_F(consortium_test, a_replica_is_served_right_after_its_holder_is_killed_and_restarted) {
  const std::string lfn = "ffeeddccbbaa99887766554433221100";
  ASSERT_EQ(post(1, "/v1/records", ingest_body(lfn, "CT"), 1)->status, 201);
  ASSERT_TRUE(eventually([&] { return record_version_at(2, lfn) == 1; })) << "the record did not reach site 2";
  stop(1);  // the owner and only other holder: nothing can repair site 2 from here on
  nodes[2]->signal(SIGKILL);
  ASSERT_EQ(nodes[2]->wait(30s), 128 + SIGKILL);
  nodes.erase(2);
  start(2);
  auto got = get(2, "/v1/records?lfn=" + lfn, 2);
  ASSERT_TRUE(got.ok()) << got.err().to_string() << nodes[2]->stderr_text();
  ASSERT_EQ(got->status, 200) << got->body;
  auto copy = nlohmann::json::parse(get(2, "/v1/records?lfn=" + lfn, 2)->body);
  EXPECT_EQ(copy["owner"], "site-1");
  EXPECT_EQ(copy["attributes"]["modality"], "CT");
  auto status = nlohmann::json::parse(get(2, "/v1/overlay", 2)->body);
  EXPECT_EQ(status["records_held"], 1);
}

// A holder killed, its disk wiped and restarted before its peers could see it down: it holds
// nothing, so it digests nobody; the owner learns of the restart from the new incarnation in
// its liveness pings and re-sends the replica at once, not at the hourly timed re-check.
TEST_F(consortium_test, a_holder_wiped_and_restarted_unseen_gets_its_replica_back_from_its_new_incarnation) {
  // Site 1 keeps site 2 live for a minute without a sign of life (the restart stays unseen) and
  // runs a round every 5 s (its timed re-check would come after 120 of them: 10 minutes).
  stop(1);
  std::ofstream(dir / "site-1.toml", std::ios::app) << "[overlay]\nliveness_timeout_s = 60\nrepair_period_s = 5\n";
  start(1);
  const std::string lfn = "0123456789abcdef0123456789abcdef";
  ASSERT_EQ(post(1, "/v1/records", ingest_body(lfn, "MR"), 1)->status, 201);
  auto held_at_2 = [&] {
    auto r = get(2, "/v1/overlay", 2);
    return r && r->status == 200 ? nlohmann::json::parse(r->body).value("records_held", -1) : -1;
  };
  ASSERT_TRUE(eventually([&] { return held_at_2() == 1; })) << "the record did not reach site 2";
  // Two of the owner's rounds after the write: site 2 has acknowledged its digest (they agree).
  auto rounds_at_1 = [&] {
    auto r = get(1, "/v1/overlay", 1);
    return r && r->status == 200 ? nlohmann::json::parse(r->body).value("repair_rounds", 0) : 0;
  };
  const int written_at = rounds_at_1();
  ASSERT_TRUE(eventually([&] { return rounds_at_1() >= written_at + 2; }, 30s));
  nodes[2]->signal(SIGKILL);
  ASSERT_EQ(nodes[2]->wait(30s), 128 + SIGKILL);
  nodes.erase(2);
  fs::remove_all(site_dir(2) / "db");
  fs::remove(site_dir(2) / "dht-state");
  start(2);
  ASSERT_EQ(held_at_2(), 0) << "the wipe left the replica";
  EXPECT_TRUE(eventually([&] { return held_at_2() == 1; }, 30s)) << nodes[2]->stderr_text();
  EXPECT_TRUE(eventually([&] { return record_version_at(2, lfn) == 1; }));
}

// A similarity query's body signature or a record's: little-endian float32 samples.
std::string samples(const std::vector<float>& v) {
  std::string out;
  for (float f : v) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &f, 4);
    for (int i = 0; i < 4; ++i) out += static_cast<char>(bits >> (8 * i) & 0xff);
  }
  return out;
}

TEST_F(consortium_test, a_similarity_query_reaches_every_site_and_survives_a_dead_owner) {
  // Records: A and C owned by site 1, B, D and E by site 2. Against the query signature, A
  // correlates fully, B nearly, C inversely, D has no signature, E is filtered out (MR).
  const std::vector<float> query{1, 2, 3, 4, 5, 6, 7, 8};
  struct seed {
    int owner;
    char lfn_byte;
    const char* modality;
    std::string signature;
  };
  const std::vector<seed> seeds{{1, 'A', "CT", samples({2, 4, 6, 8, 10, 12, 14, 16})},
                                {2, 'B', "CT", samples({1, 2, 3, 4, 5, 6, 8, 7})},
                                {1, 'C', "CT", samples({8, 7, 6, 5, 4, 3, 2, 1})},
                                {2, 'D', "CT", ""},
                                {2, 'E', "MR", samples(query)}};
  auto lfn_of = [](char c) { return crypto::to_hex(std::string(16, c)); };
  for (const auto& s : seeds) {
    nlohmann::json body = {{"lfn", lfn_of(s.lfn_byte)},
                           {"attributes", {{"modality", s.modality}, {"study_date", "20240102"}}}};
    if (!s.signature.empty()) body["signature_hex"] = crypto::to_hex(s.signature);
    auto written = post(s.owner, "/v1/records", body.dump(), s.owner);
    ASSERT_TRUE(written.ok()) << written.err().to_string();
    ASSERT_EQ(written->status, 201) << written->body;
  }

  nlohmann::json ask = {{"filters", {{"modality", "CT"}}}, {"signature", crypto::to_base64(samples(query))},
                        {"measure", "ncc"}, {"top_k", 10}, {"timeout_ms", 8000}, {"purpose", "test"}};
  // Starts a query at site 1 and polls it to the end; the final view.
  auto run_query = [&](int as_site) -> nlohmann::json {
    auto started = post(1, "/v1/queries", ask.dump(), as_site);
    EXPECT_TRUE(started.ok());
    if (!started.ok() || started->status != 202) return {{"status", started.ok() ? started->status : -1}};
    auto location = nlohmann::json::parse(started->body)["location"].get<std::string>();
    nlohmann::json view;
    eventually([&] {
      auto r = get(1, location, as_site);
      if (!r || r->status != 200) return false;
      view = nlohmann::json::parse(r->body);
      return view["done"].get<bool>();
    }, 15s);
    return view;
  };
  auto ranked = [&](const nlohmann::json& view) {
    std::vector<std::string> out;
    for (const auto& h : view["hits"]) out.push_back(h["lfn"].get<std::string>());
    return out;
  };
  const std::vector<std::string> expected{lfn_of('A'), lfn_of('B'), lfn_of('C'), lfn_of('D')};

  // Outsiders are refused, and so is every malformed body; none starts a query.
  auto start_as = [&](int site, const std::string& body) {
    auto r = post(1, "/v1/queries", body, site);
    return r ? r->status : -1;
  };
  EXPECT_EQ(start_as(3, ask.dump()), 403);  // accredited by the CA, not on the roster
  tls_material anonymous{*crypto::read_file(ca_dir / "ca.crt"), "", ""};
  // No certificate and no session: not authenticated.
  EXPECT_EQ(https_request({address(1), https_port}, anonymous, "POST", "/v1/queries", ask.dump())->status, 401);
  EXPECT_EQ(https_request({address(1), https_port}, anonymous, "GET", "/v1/queries/00")->status, 401);
  for (const char* bad : {"{", "[]", R"({"measure":"mi"})", R"({"top_k":0})", R"({"timeout_ms":600000})",
                          R"({"signature":"%%%"})", R"({"filters":{"study_date":{"from":"yesterday"}}})"}) {
    auto r = post(1, "/v1/queries", bad, 1);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400) << bad;
    EXPECT_TRUE(nlohmann::json::parse(r->body).contains("error")) << r->body;
  }
  EXPECT_EQ(get(1, "/v1/queries/" + std::string(32, '0'), 1)->status, 404);

  // Site 3 joins, so the records get a replica each on both other sites.
  add_to_roster(3);
  sign();
  ASSERT_EQ(publish_to(1, roster), 0) << last_err;
  ASSERT_TRUE(eventually([&] { return roster_version_at(2, 2) == 2 && roster_version_at(3, 3) == 2; }, 20s));
  ASSERT_TRUE(eventually([&] {
    for (int site : {1, 2, 3})
      for (const auto& s : seeds) {
        auto r = get(site, "/v1/records?lfn=" + lfn_of(s.lfn_byte), site);
        if (!r || r->status != 200) return false;
      }
    return true;
  }, 40s)) << "records did not reach every site";

  // A query from site 1 hears from all three sites, deduplicated and ranked by NCC; the record
  // without a signature ranks last with no score.
  auto view = run_query(1);
  EXPECT_EQ(view["asked"], 3) << view.dump();
  // A site slower than the hedge delay (a loaded machine, a sanitizer build) is covered by its
  // replica holders instead: the query still hears from every site's records.
  EXPECT_GE(view["answered"].get<int>() + view["hedged"].get<int>(), 3) << view.dump();
  EXPECT_LE(view["answered"].get<int>(), 3) << view.dump();
  EXPECT_FALSE(view["deadline_passed"].get<bool>());
  EXPECT_EQ(ranked(view), expected) << view.dump();
  ASSERT_EQ(view["hits"].size(), 4u);
  EXPECT_NEAR(view["hits"][0]["score"].get<double>(), 1.0, 1e-6);
  EXPECT_GT(view["hits"][1]["score"].get<double>(), 0.9);
  EXPECT_NEAR(view["hits"][2]["score"].get<double>(), -1.0, 1e-6);
  EXPECT_TRUE(view["hits"][3]["score"].is_null());
  EXPECT_EQ(view["hits"][0]["owner"], "site-1");
  EXPECT_EQ(view["hits"][1]["owner"], "site-2");
  EXPECT_EQ(view["hits"][1]["attributes"]["modality"], "CT");

  // By one of site 1's own series: the home node takes record A's signature (A and the query
  // are proportional, so the ranking is the same); another site's LFN, or an unknown one, is a 404.
  auto by_lfn = ask;
  by_lfn.erase("signature");
  by_lfn["lfn"] = lfn_of('A');
  std::swap(ask, by_lfn);
  view = run_query(1);
  std::swap(ask, by_lfn);
  EXPECT_EQ(ranked(view), expected) << view.dump();
  EXPECT_NEAR(view["hits"][0]["score"].get<double>(), 1.0, 1e-6);
  for (char other : {'B', 'Z'}) {
    by_lfn["lfn"] = lfn_of(other);
    auto r = post(1, "/v1/queries", by_lfn.dump(), 1);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 404) << r->body;
  }

  // The same through the CLI, as site 1's operator: JSON, then the ranked table.
  std::ofstream(dir / "query.sig", std::ios::binary) << samples(query);
  const std::vector<std::string> cli{"query", "--config", (dir / "site-1.toml").string(), "--modality", "CT",
                                     "--signature-file", (dir / "query.sig").string(), "--top-k", "3"};
  auto with = [&](std::vector<std::string> extra) {
    auto args = cli;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  ASSERT_EQ(dm2(with({"--json"})), 0) << last_err;
  auto printed = nlohmann::json::parse(*crypto::read_file(dir / ("dm2-" + std::to_string(commands - 1) + ".out")));
  EXPECT_EQ(ranked(printed), std::vector<std::string>(expected.begin(), expected.begin() + 3)) << printed.dump();
  ASSERT_EQ(dm2(cli), 0) << last_err;
  auto table = *crypto::read_file(dir / ("dm2-" + std::to_string(commands - 1) + ".out"));
  EXPECT_NE(table.find("1    1.00000  " + lfn_of('A') + " site-1"), std::string::npos) << table;
  // Output goes to files, not a terminal: no progress bar (its carriage returns) in the capture.
  EXPECT_EQ(last_err.find('\r'), std::string::npos) << last_err;
  EXPECT_EQ(last_err.find("3/3"), std::string::npos) << last_err;
  const std::vector<std::string> by_lfn_cli{"query", "--config", (dir / "site-1.toml").string(), "--modality", "CT",
                                            "--lfn", lfn_of('A'), "--top-k", "3", "--json"};
  ASSERT_EQ(dm2(by_lfn_cli), 0) << last_err;
  printed = nlohmann::json::parse(*crypto::read_file(dir / ("dm2-" + std::to_string(commands - 1) + ".out")));
  EXPECT_EQ(ranked(printed), std::vector<std::string>(expected.begin(), expected.begin() + 3)) << printed.dump();
  EXPECT_EQ(dm2(with({"--measure", "mi"})), 2);
  EXPECT_NE(last_err.find("needs a query by image"), std::string::npos) << last_err;

  // A forged query from a member is refused and logged.
  dht::query_request forged{"forged-1", ask.dump(), std::string(72, 'x'), 0, {}, {}};
  auto sent = post(1, "/v1/overlay/message", dht::encode_message(forged), 3);
  ASSERT_TRUE(sent.ok());
  EXPECT_EQ(sent->status, 202);
  EXPECT_TRUE(eventually([&] { return nodes[1]->stderr_text().find("event=query_refused peer=site-3 query=forged-1 reason=forged") != std::string::npos; }, 5s))
      << nodes[1]->stderr_text();

  // The owner of B and D dies: replica holders answer for it.
  nodes[2]->signal(SIGKILL);
  nodes[2]->wait(10s);
  std::string overlay_view;
  ASSERT_TRUE(eventually([&] {
    auto r = get(1, "/v1/overlay", 1);
    if (!r || r->status != 200) return false;
    overlay_view = r->body;
    auto status = nlohmann::json::parse(r->body);
    for (const auto& peer : status["peers"])
      if (peer["site_id"] == "site-2") return !peer["live"].get<bool>();
    return false;
  }, 40s)) << "site 1 still sees site 2 live: " << overlay_view;
  view = run_query(1);
  EXPECT_EQ(view["asked"], 2) << view.dump();
  EXPECT_EQ(view["answered"], 2) << view.dump();
  EXPECT_EQ(ranked(view), expected) << view.dump();

  // Site 3 audited each query it answered (two over HTTP, two by the CLI; none of the refused
  // ones), naming the querier site, nothing else.
  stop(3);
  auto key = *crypto::read_file(site_dir(3) / "identity" / "storage.key");
  auto signer = storage::ed25519_audit_signer(*crypto::read_file(site_dir(3) / "identity" / "dht.key"));
  ASSERT_TRUE(signer.ok());
  auto db = storage::database::open(site_dir(3) / "db", key, {}, std::move(*signer));
  ASSERT_TRUE(db.ok()) << db.err().to_string();
  int answered = 0;
  for (std::uint64_t i = 0; i < (*db)->audit_size(); ++i) {
    auto entry = (*db)->read_audit(i);
    ASSERT_TRUE(entry.ok() && *entry);
    const auto& e = (**entry).event;
    if (e.action != "query_answer") continue;
    ++answered;
    EXPECT_EQ(e.actor, "site:site-1");
    // The query's id, or a hedge request's ("<id>/hedge-<n>").
    EXPECT_EQ(e.object.substr(0, e.object.find('/')).size(), 32u) << e.object;
    EXPECT_EQ(e.detail.rfind("hits=", 0), 0u) << e.detail;
  }
  // At least the four queries above (the query by LFN and hedge requests, which carry an id of
  // their own, may add answers).
  EXPECT_GE(answered, 4);
}

}  // namespace
}  // namespace dm2::node
