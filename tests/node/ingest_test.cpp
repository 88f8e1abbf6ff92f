// The PACS ingest inside real dm2d processes, against a real PACS (dcmqrscp, in a private
// network namespace): a canary patient leaks nowhere and its series keys are shared t-of-n;
// SIGKILL at random instants leaves no half-ingested series and no duplicate LFN; bad series
// fail alone with a clear reason. The lone-node test runs dm2d on its development consortium of
// one (no [consortium], no [tls]).
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/private_file.hpp"
#include "dm2/crypto/shares.hpp"
#include "dm2/crypto/stream.hpp"
#include "dm2/dht/message_codec.hpp"
#include "dm2/dht/share_keyring.hpp"
#include "dm2/node/https_client.hpp"
#include "dm2/pacs/deidentify.hpp"
#include "dm2/pacs/parallel_fetch.hpp"
#include "dm2/pacs/volume.hpp"
#include "dm2/storage/database.hpp"
#include "dicomweb/dicom_uids.hpp"
#include "ingest_reference.hpp"
#include "pacs_server_fixture.hpp"
#include "process_consortium.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace dm2::node {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
namespace fs = std::filesystem;

// Every regular file under `dir` whose raw bytes hold one of `needles`: "file: needle".
std::vector<std::string> files_holding(const fs::path& dir, const std::vector<std::string>& needles) {
  std::vector<std::string> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    auto bytes = test::slurp(it->path());
    for (const auto& n : needles)
      if (bytes.find(n) != std::string::npos) found.push_back(it->path().string() + ": " + n);
  }
  return found;
}

std::vector<std::string> strings_holding(const std::string& text, const std::vector<std::string>& needles) {
  std::vector<std::string> found;
  for (const auto& n : needles)
    if (text.find(n) != std::string::npos) found.push_back(n);
  return found;
}

// The committed <lfn>/<version> directories of a site's object store.
std::set<std::string> object_dirs(const fs::path& data_dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& lfn : fs::directory_iterator(data_dir / "objects", ec)) {
    if (lfn.path().filename().string().rfind(".staging", 0) == 0) continue;
    for (const auto& v : fs::directory_iterator(lfn.path(), ec))
      out.insert(lfn.path().filename().string() + "/" + v.path().filename().string());
  }
  return out;
}

class ingest_test : public ::testing::Test {
 protected:
  void SetUp() override {
    DM2_REQUIRE_PRIVATE_NETWORK();
    fs::create_directories(dir / "pacs");
    server = std::make_unique<test::dcmqrscp_server>(dir / "pacs");
    ASSERT_EQ(server->start(), "");
  }

  // Writes and uploads a synthetic series; returns it.
  test::synthetic_series add_series(test::synthetic_options o) {
    auto sub = dir / "series" / std::to_string(++series_count);
    fs::create_directories(sub);
    auto s = test::write_synthetic_series(sub, o);
    EXPECT_EQ(server->upload(s.files), "");
    return s;
  }

  // Creates and starts a consortium of one site (addresses 127.<octet>...) ingesting `server`
  // (`pacs_extra`: more [pacs] keys).
  std::unique_ptr<test::process_consortium> start_one_site(int octet, const std::string& pacs_extra = {}) {
    test::consortium_options options;
    options.sites = 1;
    options.address_octet = octet;
    options.site_toml[1] = test::pacs_toml(server->settings(), pacs_extra);
    auto c = test::process_consortium::create(dir / "consortium", options);
    EXPECT_TRUE(c.ok()) << c.err().to_string();
    if (!c) return nullptr;
    auto started = (*c)->start_all();
    EXPECT_TRUE(started.ok()) << started.err().to_string();
    return started ? std::move(*c) : nullptr;
  }

  test::temp_dir dir{"dm2-ingest"};
  std::unique_ptr<test::pacs_server> server;
  int series_count = 0;
};

// GET /v1/ingest until the run finished; returns the last run.
json wait_for_run(const std::function<result<client_response>()>& get, std::chrono::seconds limit) {
  json last;
  test::eventually(
      [&] {
        auto r = get();
        if (!r || r->status != 200) return false;
        auto j = json::parse(r->body, nullptr, false);
        if (!j.is_object() || !j["current_run"].is_null() || !j["last_run"].is_object()) return false;
        last = j["last_run"];
        return true;
      },
      limit);
  return last;
}

// Four sites: shares go to peers of the owner (the owner keeps the key itself), so 2-of-3 needs
// three peers.
TEST_F(ingest_test, canary_patient_leaks_nowhere_and_every_series_key_is_shared_2_of_3) {
  test::synthetic_options ct;
  ct.patient_name = "ZYGOMATIC^CANARYBELLE";
  ct.patient_id = "CANARY-PID-90210";
  ct.slices = 6;
  ct.rows = ct.columns = 32;
  auto mr = ct;
  mr.modality = "MR";
  auto s1 = add_series(ct);
  mr.study_uid = s1.study_uid;
  auto s2 = add_series(mr);
  std::vector<std::string> canary = {ct.patient_name, ct.patient_id, "19700101", "Hopital Test", "HOUSE^GREGORY",
                                     "ACC7781", s1.study_uid, s1.series_uid, s2.series_uid};
  for (const auto& u : s1.sop_uids) canary.push_back(u);
  for (const auto& u : s2.sop_uids) canary.push_back(u);

  test::consortium_options options;
  options.sites = 4;
  options.address_octet = 81;
  options.extra_toml = "[overlay]\nrepair_period_s = 2\n";
  options.site_toml[1] = test::pacs_toml(server->settings());
  auto c = test::process_consortium::create(dir / "consortium", options);
  ASSERT_TRUE(c.ok()) << c.err().to_string();
  auto& sites = **c;
  ASSERT_TRUE(sites.start_all().ok());

  auto run = wait_for_run([&] { return sites.request(1, "GET", "/v1/ingest", {}, 1); }, 90s);
  ASSERT_EQ(run.value("state", ""), "done") << run.dump();
  EXPECT_EQ(run["counts"].value("series_indexed", 0), 2) << run.dump();
  EXPECT_EQ(run["counts"].value("series_failed", 0), 0) << run.dump();

  // Another site may not start or watch site 1's ingest.
  auto peer_view = sites.request(1, "GET", "/v1/ingest", {}, 2);
  ASSERT_TRUE(peer_view.ok());
  EXPECT_EQ(peer_view->status, 403);

  // The records, as the other sites see them.
  auto listed = sites.request(1, "GET", "/v1/overlay/records?limit=100", {}, 1);
  ASSERT_TRUE(listed.ok());
  auto records = json::parse(listed->body)["records"];
  ASSERT_EQ(records.size(), 2u) << listed->body;
  std::vector<std::string> responses;
  std::vector<std::pair<std::string, std::uint64_t>> lfns;
  for (const auto& r : records) lfns.emplace_back(r.value("lfn", ""), r.value("version", 0u));
  // Replicas reach sites 2 and 3; what they answer holds nothing nominative.
  ASSERT_TRUE(test::eventually(
      [&] {
        for (int site : {2, 3, 4})
          for (const auto& [lfn, v] : lfns) {
            auto r = sites.request(site, "GET", "/v1/records?lfn=" + lfn, {}, site);
            if (!r || r->status != 200) return false;
          }
        return true;
      },
      30s));
  for (int site : {1, 2, 3, 4})
    for (const auto& [lfn, v] : lfns) {
      auto r = sites.request(site, "GET", "/v1/records?lfn=" + lfn, {}, site == 1 ? 2 : site);
      ASSERT_TRUE(r.ok());
      responses.push_back(r->body);
      auto rec = json::parse(r->body);
      EXPECT_EQ(rec["attributes"].value("age_band", ""), "050-059") << r->body;
      EXPECT_EQ(rec["attributes"].value("study_date", ""), "20240315") << r->body;
    }
  for (int site : {2, 3, 4}) {
    auto r = sites.request(site, "GET", "/v1/overlay/records?limit=100", {}, site);
    ASSERT_TRUE(r.ok());
    responses.push_back(r->body);
    auto q = sites.request(site, "POST", "/v1/queries",
                           R"({"filters":{},"measure":"ncc","top_k":20,"timeout_ms":3000})", site);
    ASSERT_TRUE(q.ok());
    ASSERT_EQ(q->status, 202) << q->body;
    auto location = json::parse(q->body).value("location", "");
    json view;
    ASSERT_TRUE(test::eventually(
        [&] {
          auto g = sites.request(site, "GET", location, {}, site);
          if (!g || g->status != 200) return false;
          view = json::parse(g->body);
          responses.push_back(g->body);
          return view.value("done", false);
        },
        20s));
    EXPECT_GE(view["hits"].size(), 2u) << view.dump();
  }
  for (const auto& body : responses) EXPECT_EQ(strings_holding(body, canary), std::vector<std::string>{}) << body;

  // People of site 1 (made by its operator): the canary patient herself, a physician of her care
  // team, one outside it and a researcher under the team physician's grant. What the researcher
  // and the outsider are answered and download holds no canary string; the patient's own
  // nominative view holds hers.
  auto ask = [&](const std::string& method, const std::string& path, const std::string& body, const std::string& token,
                 std::map<std::string, std::string> headers = {}) {
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    auto r = sites.request(1, method, path, body, token.empty() ? 1 : 0, headers);
    EXPECT_TRUE(r.ok());
    return r ? *r : client_response{};
  };
  auto person = [&](const std::string& name, const std::string& role, const std::string& patient_id = "") {
    json body = {{"name", name}, {"role", role}, {"password", name + "-secret-pw"}};
    if (!patient_id.empty()) body["patient_id"] = patient_id;
    EXPECT_EQ(ask("POST", "/v1/users", body.dump(), "").status, 201);
    auto r = ask("POST", "/v1/sessions", json{{"name", name}, {"password", name + "-secret-pw"}}.dump(), "");
    auto j = json::parse(r.body, nullptr, false);
    return j.is_object() ? j.value("token", "") : "";
  };
  auto patient = person("canary-patient", "patient", ct.patient_id);
  auto team = person("dr-team", "physician"), outsider = person("dr-outside", "physician");
  auto researcher = person("m-researcher", "researcher");
  const auto granted = lfns.front().first;
  EXPECT_EQ(ask("POST", "/v1/care-teams", json{{"user", "dr-team"}}.dump(), "", {{"DM2-Patient-ID", ct.patient_id}}).status,
            201);
  json grant = {{"grantee", "m-researcher"}, {"lfns", {granted}}, {"expires_in_s", 3600},
                {"classes", {"index_attributes", "deidentified_image", "key_share"}}};
  EXPECT_EQ(ask("POST", "/v1/grants", grant.dump(), team).status, 201);
  // Once the key shares are placed, the researcher downloads the series (both forms).
  ASSERT_TRUE(test::eventually([&] { return ask("GET", "/v1/series/" + granted, "", researcher).status == 200; }, 30s));
  std::vector<std::pair<std::string, client_response>> outside_views;
  for (const auto& token : {researcher, outsider})
    for (const auto& path : std::vector<std::string>{
             "/v1/series/" + granted, "/v1/series/" + granted + "?format=nifti", "/v1/nominative/" + granted,
             "/v1/records?lfn=" + granted, "/v1/audit-entries?lfn=" + granted, "/v1/grants", "/v1/me/accesses",
             "/v1/sessions/current"})
      outside_views.emplace_back(path, ask("GET", path, "", token));
  EXPECT_EQ(outside_views[0].second.status, 200);  // the researcher's download
  EXPECT_EQ(outside_views[1].second.status, 200);
  EXPECT_EQ(outside_views[2].second.status, 403);  // no nominative record for him
  // The desk's and DICOMweb's views of the same series: the owner-rendered thumbnail, QIDO-RS,
  // and for the researcher WADO-RS metadata and the series itself (de-identified UIDs).
  for (const auto& token : {researcher, outsider})
    for (const auto& path : std::vector<std::string>{"/v1/series/" + granted + "/thumbnail", "/dicom-web/studies",
                                                     "/dicom-web/series?includefield=all"})
      outside_views.emplace_back(path, ask("GET", path, "", token));
  const auto series_path = "/dicom-web/studies/" + dicomweb::study_uid_of(granted) + "/series/" + dicomweb::series_uid_of(granted);
  for (const auto& path : {series_path + "/metadata", series_path, series_path + "/instances"})
    outside_views.emplace_back(path, ask("GET", path, "", researcher));
  EXPECT_EQ(outside_views.back().second.status, 200) << outside_views.back().second.body;
  for (const auto& [path, r] : outside_views)
    EXPECT_EQ(strings_holding(r.body, canary), std::vector<std::string>{}) << path << " -> " << r.status;
  // The desk's series lists and query event streams hold none either, even for the care team
  // and the patient (a list names a patient by an opaque reference; hits are pseudonymous).
  for (const auto& token : {patient, team, outsider, researcher}) {
    auto mine = ask("GET", "/v1/me/series", "", token);
    EXPECT_EQ(strings_holding(mine.body, canary), std::vector<std::string>{}) << mine.status << " " << mine.body;
  }
  EXPECT_EQ(ask("GET", "/v1/me/series", "", researcher).status, 403);
  for (const auto& token : {team, researcher}) {
    auto q = ask("POST", "/v1/queries", R"({"filters":{},"measure":"ncc","top_k":20,"timeout_ms":3000})", token);
    ASSERT_EQ(q.status, 202) << q.body;
    auto events = ask("GET", json::parse(q.body).value("location", "") + "/events", "", token);
    EXPECT_EQ(events.status, 200) << events.body;
    EXPECT_NE(events.body.find("event: done"), std::string::npos) << events.body;
    EXPECT_EQ(strings_holding(events.body, canary), std::vector<std::string>{}) << events.body;
  }
  auto own = ask("GET", "/v1/nominative/" + granted, "", patient);
  ASSERT_EQ(own.status, 200) << own.body;
  for (const auto& hers : {ct.patient_name, ct.patient_id, std::string("ACC7781")})
    EXPECT_NE(own.body.find(hers), std::string::npos) << hers;
  EXPECT_EQ(ask("GET", "/v1/nominative/" + granted, "", team).status, 200);

  // Let the share rounds (2 s) place every key's 3 shares, then stop every site to read the disks.
  std::this_thread::sleep_for(8s);
  for (int site : {1, 2, 3, 4}) ASSERT_TRUE(sites.stop(site).ok());

  // Zero canary strings in any site's data directory (raw bytes: RocksDB SSTs and WALs, object
  // store) or in any log; site 1's nominative family is sealed.
  for (int site : {1, 2, 3, 4})
    EXPECT_EQ(files_holding(sites.site_dir(site), canary), std::vector<std::string>{}) << "site " << site;
  std::vector<std::string> in_logs;
  for (const auto& entry : fs::directory_iterator(sites.dir())) {
    auto ext = entry.path().extension();
    if (ext != ".err" && ext != ".out") continue;
    for (const auto& hit : strings_holding(test::slurp(entry.path()), canary)) in_logs.push_back(entry.path().string() + ": " + hit);
  }
  EXPECT_EQ(in_logs, std::vector<std::string>{});

  // Every series key has 3 shares on 3 distinct sites.
  std::map<std::string, std::map<std::uint32_t, std::pair<int, std::string>>> shares;  // key -> index -> (site, raw)
  for (int site : {1, 2, 3, 4}) {
    auto identity = sites.site_dir(site) / "identity";
    auto db = storage::database::open(sites.site_dir(site) / "db", *crypto::read_private_file(identity / "storage.key"));
    ASSERT_TRUE(db.ok()) << db.err().to_string();
    auto keyring = dht::x25519_keyring::from_private_key(*crypto::read_private_file(identity / "seal.key"));
    ASSERT_TRUE(keyring.ok());
    ASSERT_TRUE((*db)->for_each_value(storage::family::key_shares, "", [&](std::string_view, std::string_view v) {
      auto share = dht::decode_key_share(v);
      EXPECT_TRUE(share.ok());
      if (!share) return true;
      auto raw = keyring->open(*share);
      EXPECT_TRUE(raw.ok()) << "site " << site << " cannot open its share";
      if (raw) shares[share->key_id][share->index] = {site, *raw};
      return true;
    }).ok());
  }
  ASSERT_EQ(shares.size(), 2u);
  // The de-identified series as the pipeline makes it (ingest_reference.hpp).
  auto deid = test::site_deid_options(sites.site_dir(1) / "identity");
  std::map<std::string, std::vector<fs::path>> expected;  // series UID -> de-identified files
  for (const auto* s : {&s1, &s2})
    expected[s->series_uid] = test::deidentified_reference(server->settings(), s->study_uid, s->series_uid, deid, dir.path());
  std::set<std::string> matched;
  for (const auto& [lfn, version] : lfns) {
    SCOPED_TRACE(lfn);
    auto& held = shares[lfn];
    ASSERT_EQ(held.size(), 3u);
    std::set<int> holders;
    for (const auto& [index, sh] : held) holders.insert(sh.first);
    EXPECT_EQ(holders.size(), 3u);
    EXPECT_EQ(holders.count(1), 0u);  // the owner holds the key, not a share
    // t = 2 of them rebuild the key (every pair, the same key); t - 1 = 1 does not.
    auto key = crypto::combine_shares({held[1].second, held[2].second});
    ASSERT_TRUE(key.ok()) << key.err().to_string();
    EXPECT_EQ(*crypto::combine_shares({held[2].second, held[3].second}), *key);
    EXPECT_EQ(*crypto::combine_shares({held[1].second, held[3].second}), *key);
    EXPECT_FALSE(crypto::combine_shares({held[1].second}).ok());
    // The key decrypts the stored series byte for byte into the de-identified series.
    auto stored = sites.site_dir(1) / "objects" / lfn / std::to_string(version);
    std::vector<std::string> clear;
    for (std::size_t k = 0;; ++k) {
      char name[32];
      std::snprintf(name, sizeof name, "%06zu.dcm", k);
      if (!fs::exists(stored / (std::string(name) + ".dm2s"))) break;
      auto out = dir / (lfn + name);
      auto opened = crypto::stream_open_file(*key, stored / (std::string(name) + ".dm2s"), out,
                                             lfn + "/" + std::to_string(version) + "/" + name + ".dm2s");
      ASSERT_TRUE(opened.ok()) << opened.err().to_string();
      clear.push_back(test::slurp(out));
    }
    for (const auto& [series_uid, files] : expected) {
      bool same = files.size() == clear.size();
      for (std::size_t k = 0; same && k < files.size(); ++k) same = test::slurp(files[k]) == clear[k];
      if (same) matched.insert(series_uid);
    }
    auto volume = dir / (lfn + ".nii");
    EXPECT_TRUE(crypto::stream_open_file(*key, stored / "volume.nii.dm2s", volume,
                                         lfn + "/" + std::to_string(version) + "/volume.nii.dm2s")
                    .ok());
  }
  EXPECT_EQ(matched.size(), 2u);
}

// The lone node below runs on its development consortium of one.
struct lone_node {
  fs::path dir, config, data;
  std::string address;
  std::unique_ptr<test::child_process> process;
  int starts = 0;

  tls_material tls() const {
    auto id = data / "identity";
    return {*crypto::read_file(id / "ca.crt"), *crypto::read_file(id / "site.crt"),
            *crypto::read_private_file(id / "site.key")};
  }
  result<client_response> request(const std::string& method, const std::string& path, const std::string& body = {}) {
    return https_request({address, 18443}, tls(), method, path, body);
  }
  bool start() {
    auto ready = dir / "ready";
    fs::remove(ready);
    process = std::make_unique<test::child_process>(test::built_program("node/dm2d"),
                                                    std::vector<std::string>{"--config", config.string(),
                                                                             "--ready-file", ready.string()},
                                                    dir, "dm2d-" + std::to_string(starts++));
    return test::eventually([&] { return fs::exists(ready) || !process->running(); }, 30s) && process->running();
  }
};

// SIGKILL at >= 20 random instants during a multi-series ingest on a lone node: after each
// restart every visible record has its committed objects; at the end every series is indexed
// once (no duplicate LFN), nothing is left over, and the node answers queries by itself.
TEST_F(ingest_test, sigkill_at_random_instants_leaves_no_half_ingested_series_and_no_duplicate_lfn) {
  constexpr int series = 6;
  for (int i = 0; i < series; ++i) {
    test::synthetic_options o;
    o.patient_id = "PID-" + std::to_string(i);
    o.slices = 12;
    o.rows = o.columns = 64;
    o.modality = i % 2 ? "MR" : "CT";
    add_series(o);
  }
  lone_node n;
  n.dir = dir / "lone";
  n.data = n.dir / "data";
  n.config = n.dir / "dm2d.toml";
  n.address = "127.82." + std::to_string(10 + ::getpid() % 240) + ".1";
  fs::create_directories(n.dir);
  std::ofstream(n.config) << "[node]\ndata_dir = \"" << n.data.string() << "\"\nsite_name = \"lone\"\n[https]\nlisten = \""
                          << n.address << ":18443\"\n[dht]\nlisten = \"" << n.address << ":16881\"\n"
                          << test::pacs_toml(server->settings());
  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  std::uniform_int_distribution<int> instant_ms(20, 1200);
  for (int kill = 0; kill < 20; ++kill) {
    ASSERT_TRUE(n.start()) << n.process->stderr_text();
    std::this_thread::sleep_for(std::chrono::milliseconds(instant_ms(rng)));
    // Whatever is visible now is whole: every record held has its committed objects.
    if (auto r = n.request("GET", "/v1/overlay/records?limit=100"); r && r->status == 200) {
      auto dirs = object_dirs(n.data);
      auto listing = json::parse(r->body);  // named: a range-for over a temporary's member dangles
      for (const auto& rec : listing["records"])
        EXPECT_TRUE(dirs.count(rec.value("lfn", "") + "/" + std::to_string(rec.value("version", 0u))))
            << "record " << rec.dump() << " visible without its objects";
    }
    n.process->signal(SIGKILL);
    n.process->wait(10s);
  }
  ASSERT_TRUE(n.start()) << n.process->stderr_text();
  auto run = wait_for_run([&] { return n.request("GET", "/v1/ingest"); }, 60s);
  ASSERT_EQ(run.value("state", ""), "done") << run.dump();
  EXPECT_EQ(run["counts"].value("series_failed", 0), 0) << run.dump();
  // A run started now finds nothing new: the cursor survived the kills.
  auto again = n.request("POST", "/v1/ingest");
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->status, 202) << again->body;
  auto second = wait_for_run([&] { return n.request("GET", "/v1/ingest"); }, 60s);
  EXPECT_EQ(second["counts"].value("series_indexed", 0), 0) << second.dump();

  auto listed = n.request("GET", "/v1/overlay/records?limit=100");
  ASSERT_TRUE(listed.ok());
  auto records = json::parse(listed->body)["records"];
  std::set<std::string> lfns, committed;
  for (const auto& r : records) {
    lfns.insert(r.value("lfn", ""));
    committed.insert(r.value("lfn", "") + "/" + std::to_string(r.value("version", 0u)));
  }
  EXPECT_EQ(records.size(), static_cast<std::size_t>(series)) << listed->body;
  EXPECT_EQ(lfns.size(), static_cast<std::size_t>(series));
  // Stop cleanly: the start-up sweep of the next start is not needed for this check.
  n.process->signal(SIGTERM);
  n.process->wait(30s);
  EXPECT_EQ(object_dirs(n.data), committed);
  EXPECT_FALSE(fs::exists(n.data / "ingest-scratch") && !fs::is_empty(n.data / "ingest-scratch"));

  // A consortium of one answers its own queries and says what it cannot place.
  ASSERT_TRUE(n.start());
  auto overlay = n.request("GET", "/v1/overlay");
  ASSERT_TRUE(overlay.ok());
  auto o = json::parse(overlay->body);
  EXPECT_EQ(o.value("keys_owned", 0), series) << overlay->body;
  EXPECT_FALSE(o["placement_warnings"].empty()) << overlay->body;
  auto q = n.request("POST", "/v1/queries", R"({"filters":{"modality":"CT"},"measure":"ncc","top_k":20,"timeout_ms":2000})");
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->status, 202) << q->body;
  json view;
  ASSERT_TRUE(test::eventually(
      [&] {
        auto g = n.request("GET", json::parse(q->body).value("location", ""));
        if (!g || g->status != 200) return false;
        view = json::parse(g->body);
        return view.value("done", false);
      },
      20s));
  EXPECT_EQ(view["hits"].size(), static_cast<std::size_t>(series / 2)) << view.dump();
}

// A corrupt object and a series with a gap fail alone, with a clear reason in the status;
// nothing is committed for them and the good series is indexed.
TEST_F(ingest_test, bad_series_fail_alone_with_a_clear_reason_and_commit_nothing) {
  test::synthetic_options good;
  good.slices = 6;
  good.rows = good.columns = 32;
  add_series(good);
  // A gap: one slice missing from the middle.
  auto gap_dir = dir / "gap";
  fs::create_directories(gap_dir);
  auto gap = test::write_synthetic_series(gap_dir, good);
  gap.files.erase(gap.files.begin() + 3);
  ASSERT_EQ(server->upload(gap.files), "");
  // A corrupt object: pixel data cut short.
  auto bad_dir = dir / "bad";
  fs::create_directories(bad_dir);
  auto bad = test::write_synthetic_series(bad_dir, good);
  for (const auto& f : bad.files) fs::resize_file(f, fs::file_size(f) - 700);
  (void)server->upload(bad.files);  // the PACS may refuse some; what it keeps is what dm2d sees

  auto c = start_one_site(83);
  ASSERT_TRUE(c);
  auto run = wait_for_run([&] { return c->request(1, "GET", "/v1/ingest", {}, 1); }, 90s);
  ASSERT_EQ(run.value("state", ""), "done") << run.dump();
  EXPECT_EQ(run["counts"].value("series_indexed", 0), 1) << run.dump();
  EXPECT_GE(run["counts"].value("series_failed", 0), 1) << run.dump();
  bool gap_reported = false;
  for (const auto& f : run["failures"]) {
    EXPECT_FALSE(f.value("reason", "").empty());
    if (f.value("stage", "") == "assemble" && f.value("reason", "").find("gap") != std::string::npos) gap_reported = true;
  }
  EXPECT_TRUE(gap_reported) << run.dump();
  auto listed = c->request(1, "GET", "/v1/overlay/records?limit=100", {}, 1);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(json::parse(listed->body)["records"].size(), 1u) << listed->body;
  EXPECT_EQ(object_dirs(c->site_dir(1)).size(), 1u);
}

// The PACS is killed while dm2d fetches a many-instance series: the run reports that series'
// failure at the fetch stage with the PACS's error, nothing is committed for it (no record, no
// object directory, no scratch), the series before it stays indexed, and once the PACS is back
// the next run ingests it and the series after it in full.
TEST_F(ingest_test, a_pacs_that_disappears_mid_series_fails_that_series_alone_and_commits_nothing) {
  test::synthetic_options small;
  small.slices = 6;
  small.rows = small.columns = 32;
  small.study_date = "20240101";  // oldest first: ingested before the big one
  add_series(small);
  test::synthetic_options big = small;
  big.study_date = "20240201";
  big.slices = 400;  // many instances: the fetch is still under way when the PACS goes
  big.rows = big.columns = 96;
  big.slice_spacing = 0.5;
  auto big_series = add_series(big);
  test::synthetic_options later = small;
  later.study_date = "20240301";  // after the big one: not reached while the PACS is gone
  later.modality = "MR";
  add_series(later);

  auto c = start_one_site(84);
  ASSERT_TRUE(c);
  auto& site = *c;

  // Kill the PACS once part of the big series has arrived.
  std::string big_lfn;
  ASSERT_TRUE(test::eventually(
      [&] {
        auto r = site.request(1, "GET", "/v1/ingest", {}, 1);
        if (!r || r->status != 200) return false;
        auto j = json::parse(r->body, nullptr, false);
        if (!j.is_object() || !j["current_run"].is_object()) return false;
        for (const auto& s : j["current_run"]["series"])
          if (s.value("stage", "") == "fetch" && s.value("instances_total", 0u) == big.slices &&
              s.value("instances_done", 0u) > 0) {
            big_lfn = s.value("lfn", "");
            return true;
          }
        return false;
      },
      60s))
      << "the big series' fetch was never seen under way";
  server->kill();

  auto run = wait_for_run([&] { return site.request(1, "GET", "/v1/ingest", {}, 1); }, 60s);
  EXPECT_EQ(run.value("state", ""), "failed") << run.dump();
  EXPECT_FALSE(run.value("error", "").empty()) << run.dump();
  EXPECT_EQ(run["counts"].value("series_indexed", 0), 1) << run.dump();
  EXPECT_EQ(run["counts"].value("series_failed", 0), 1) << run.dump();
  ASSERT_EQ(run["failures"].size(), 1u) << run.dump();
  const auto& failure = run["failures"][0];
  EXPECT_EQ(failure.value("lfn", ""), big_lfn) << run.dump();
  EXPECT_EQ(failure.value("stage", ""), "fetch") << run.dump();
  EXPECT_NE(failure.value("reason", "").find("PACS"), std::string::npos) << run.dump();
  EXPECT_EQ(strings_holding(run.dump(), {big_series.series_uid, big_series.study_uid, big.patient_id}),
            std::vector<std::string>{});

  // Nothing of the big series is stored: one record, one object directory, no scratch left.
  auto listed = site.request(1, "GET", "/v1/overlay/records?limit=100", {}, 1);
  ASSERT_TRUE(listed.ok());
  auto records = json::parse(listed->body)["records"];
  ASSERT_EQ(records.size(), 1u) << listed->body;
  EXPECT_NE(records[0].value("lfn", ""), big_lfn);
  auto dirs = object_dirs(site.site_dir(1));
  EXPECT_EQ(dirs.size(), 1u);
  for (const auto& d : dirs) EXPECT_NE(d.substr(0, big_lfn.size()), big_lfn);
  const auto scratch = site.site_dir(1) / "ingest-scratch";
  EXPECT_TRUE(!fs::exists(scratch) || fs::is_empty(scratch));

  // The PACS is back: the next run ingests the big series in full and the one after it.
  ASSERT_EQ(server->start(), "");
  auto again = site.request(1, "POST", "/v1/ingest", {}, 1);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->status, 202) << again->body;
  auto second = wait_for_run([&] { return site.request(1, "GET", "/v1/ingest", {}, 1); }, 120s);
  ASSERT_EQ(second.value("state", ""), "done") << second.dump();
  EXPECT_EQ(second["counts"].value("series_indexed", 0), 2) << second.dump();
  EXPECT_EQ(second["counts"].value("series_failed", 0), 0) << second.dump();
  listed = site.request(1, "GET", "/v1/overlay/records?limit=100", {}, 1);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(json::parse(listed->body)["records"].size(), 3u) << listed->body;
  dirs = object_dirs(site.site_dir(1));
  ASSERT_EQ(dirs.size(), 3u);
  std::size_t biggest = 0;  // sealed files in the fullest object directory
  for (const auto& d : dirs) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& f : fs::directory_iterator(site.site_dir(1) / "objects" / d)) ++n;
    biggest = std::max(biggest, n);
  }
  EXPECT_EQ(biggest, big.slices + 1u);  // every instance and the volume
}

// A late image on today's date (behind the incremental cursor, which never looks at a series it
// has handed over again) is ingested by the scheduled re-scan, without an operator: the series
// becomes version 2 of its LFN.
TEST_F(ingest_test, the_scheduled_rescan_ingests_a_late_image_the_incremental_sync_cannot_see) {
  test::synthetic_options o;
  o.slices = 6;
  o.rows = o.columns = 32;
  char today[16];
  const std::time_t now = std::time(nullptr);
  std::tm parts{};
  localtime_r(&now, &parts);
  std::strftime(today, sizeof today, "%Y%m%d", &parts);
  o.study_date = today;
  auto series = add_series(o);

  // Scheduled runs every second; every third second or so one of them is a re-scan of the last 7 days.
  auto c = start_one_site(85, "sync_period_s = 1\nrescan_period_s = 3\nrescan_days = 7\n");
  ASSERT_TRUE(c);
  auto& site = *c;
  auto versions = [&] {  // LFN -> version of the records the site holds
    std::map<std::string, unsigned> out;
    auto listed = site.request(1, "GET", "/v1/overlay/records?limit=100", {}, 1);
    if (!listed || listed->status != 200) return out;
    const auto body = json::parse(listed->body);  // a named object: the loop below must not outlive it
    for (const auto& r : body["records"]) out[r.value("lfn", "")] = r.value("version", 0u);
    return out;
  };
  std::map<std::string, unsigned> first;
  ASSERT_TRUE(test::eventually([&] { return (first = versions()).size() == 1; }, 60s)) ;
  const auto lfn = first.begin()->first;
  EXPECT_EQ(first.begin()->second, 1u);

  ASSERT_EQ(server->upload({[&] {
              const auto late = dir / "late-slice.dcm";
              test::write_next_slice(series.files, late);
              return late;
            }()}),
            "");
  EXPECT_TRUE(test::eventually(
      [&] {
        auto v = versions();
        return v.size() == 1 && v.count(lfn) && v[lfn] == 2u;
      },
      90s))
      << "the late image was never ingested";
  // The runs say what they are: a re-scan shows as last_run for the second until the next run.
  EXPECT_TRUE(test::eventually(
      [&] {
        auto r = site.request(1, "GET", "/v1/ingest", {}, 1);
        auto j = r && r->status == 200 ? json::parse(r->body, nullptr, false) : json();
        return j.is_object() && j["last_run"].is_object() && j["last_run"].value("trigger", "") == "schedule-rescan";
      },
      20s));
}

}  // namespace
}  // namespace dm2::node
