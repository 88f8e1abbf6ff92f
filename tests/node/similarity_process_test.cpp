// Queries by image across three real dm2d processes, each ingesting its own real PACS (dcmqrscp
// in a private network namespace) filled with anatomy-like heart MR series (the demo's phantom):
// site 1 holds the patient's series, site 2 a near-duplicate of it (the same patient scanned
// again) planted among other patients. Querying by the patient's series, the near-duplicate
// ranks first by each of ncc, mi and cr computed at its owner (stage 2, marked with the
// algorithm); with its owner killed the query still ends before its deadline, the owner's hits
// keeping their stage-1 scores, flagged; its event stream (GET /v1/queries/{id}/events) shows
// each site's state as it changes and ends with the final ranking. Bad input is refused with 4xx.
// The result cache: a repeated query reuses every owner's scores (counters), and every stage-2
// score's provenance answers at both ends; a series re-ingested with one more slice is a new
// version (record and signature replicated) whose score the next query computes again. A
// physician queries by his patient's DICOM series uploaded (assembled at the home site, removed at
// once) and, on the patient's care team, by the series' original UIDs at his site's PACS.
#include <dcmtk/dcmdata/dctk.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstring>
#include <limits>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "dm2/crypto/hash.hpp"
#include "dm2/pacs/volume.hpp"
#include "phantom_sites.hpp"
#include "stage_two.hpp"
#include "support/temp_dir.hpp"

namespace dm2::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Stage 2 at an owner: one scoring thread, two requests waiting at most (the pool test's bound).
constexpr const char* site_toml =
    "[accounts]\nargon2_memory_kib = 1024\nargon2_passes = 1\n[similarity]\nstage2_threads = 1\nstage2_waiting = 2\n";

// Site 1: the patient (seed 1001) and another; site 2: the near-duplicate and another; site 3: two others.
const std::vector<planted_series> series_plan = {{1, 1001, 0, "20240101"}, {1, 1002, 0, "20240102"},
                                                 {2, 1001, 1, "20240201"}, {2, 2001, 0, "20240202"},
                                                 {3, 3001, 0, "20240301"}, {3, 3002, 0, "20240302"}};
constexpr const char* patient_date = "20240101";
constexpr const char* duplicate_date = "20240201";

using node::encode_stage_two_request;
using node::stage_two_path;
// The headers of a stage-2 request as a home site sends it (its binary frame).
const std::map<std::string, std::string> stage_two_type = {{"Content-Type", node::stage_two_content_type}};

class similarity_process_test : public ::testing::Test {
 protected:
  void SetUp() override {
    DM2_REQUIRE_PRIVATE_NETWORK();
    consortium_options options;
    options.address_octet = 86;
    options.extra_toml = site_toml;
    auto files = start_phantom_sites(dir.path(), options, series_plan, servers, sites);
    ASSERT_FALSE(HasFailure());
    patient_files = files[patient_date];
    duplicate_files = files[duplicate_date];
    // Every record reached site 1 (replication), so a stage-1 query sees all six.
    ASSERT_TRUE(eventually([&] { return lfn_by_date().size() == 6; }, 30s));
    auto dates = lfn_by_date();
    patient = dates[patient_date];
    duplicate = dates[duplicate_date];
  }

  // Starts a query at site 1 (as its operator, or as a user with `token`) and polls it to the end.
  json run_query(const json& body, const std::string& token = "", int* status = nullptr) {
    std::map<std::string, std::string> headers;
    if (!token.empty()) headers["Authorization"] = "Bearer " + token;
    auto started = sites->request(1, "POST", "/v1/queries", body.dump(), token.empty() ? 1 : 0, headers);
    EXPECT_TRUE(started);
    if (!started) return {};
    if (status) *status = started->status;
    if (started->status != 202) return json::parse(started->body, nullptr, false);
    auto location = json::parse(started->body).value("location", "");
    json view;
    EXPECT_TRUE(eventually(
        [&] {
          auto r = sites->request(1, "GET", location, "", token.empty() ? 1 : 0, headers);
          view = r ? json::parse(r->body, nullptr, false) : json();
          return view.is_object() && view.value("done", false);
        },
        40s))
        << view.dump();
    return view;
  }

  // Starts a query at site 1 as its operator and follows its event stream to the end: the events
  // (name, data) in arrival order.
  std::vector<std::pair<std::string, json>> run_query_streamed(const json& body) {
    std::vector<std::pair<std::string, json>> events;
    auto started = sites->request(1, "POST", "/v1/queries", body.dump(), 1);
    EXPECT_TRUE(started && started->status == 202) << (started ? started->body : started.err().message);
    if (!started || started->status != 202) return events;
    auto location = json::parse(started->body).value("location", "");
    node::https_connection stream(sites->target(1), sites->client_tls(1));
    std::string text;
    auto head = stream.request_streamed("GET", location + "/events", [&](const node::client_response&, std::string_view piece) {
      text += piece;
      return status{};
    });
    EXPECT_TRUE(head && head->status == 200) << (head ? head->body : head.err().message);
    EXPECT_EQ(head ? head->headers["content-type"] : "", "text/event-stream; charset=utf-8");
    std::uint64_t last_id = 0;
    for (std::size_t at = 0, end; (end = text.find("\n\n", at)) != std::string::npos; at = end + 2) {
      auto block = text.substr(at, end - at);
      if (block.rfind(':', 0) == 0) continue;  // a keep-alive comment
      std::map<std::string, std::string> fields;
      for (std::size_t l = 0, nl; l < block.size(); l = nl + 1) {
        nl = std::min(block.find('\n', l), block.size());
        auto line = block.substr(l, nl - l);
        fields[line.substr(0, line.find(':'))] = line.substr(line.find(':') + 2);
      }
      auto id = std::stoull(fields["id"]);
      EXPECT_TRUE(events.empty() || id > last_id) << "event ids must grow: " << block;
      last_id = id;
      events.emplace_back(fields["event"], json::parse(fields["data"], nullptr, false));
    }
    EXPECT_FALSE(events.empty()) << text;
    return events;
  }

  // study date -> LFN of every series, from a stage-1 query by filters only.
  std::map<std::string, std::string> lfn_by_date() {
    std::map<std::string, std::string> out;
    auto view = run_query({{"filters", {{"modality", "MR"}}}, {"top_k", 50}});
    for (const auto& h : view.value("hits", json::array()))
      out[h["attributes"].value("study_date", "")] = h.value("lfn", "");
    return out;
  }

  // "lfn prefix@owner/stage:score ..." in rank order.
  static std::string lfns_of(const json& view) {
    std::string out;
    for (const auto& h : view["hits"])
      out += h.value("lfn", "").substr(0, 6) + "@" + h.value("owner", "") + "/s" + std::to_string(h.value("stage", 0)) +
             ":" + h["score"].dump() + " ";
    return out;
  }

  // Site 1's users (name, role), made by a site admin made first; each one's password is
  // "<name>-secret-pw".
  void add_users(const std::vector<std::pair<std::string, std::string>>& users) {
    auto made = sites->request(1, "POST", "/v1/users",
                               json{{"name", "admin"}, {"role", "site_admin"}, {"password", "admin-secret-pw"}}.dump(), 1);
    ASSERT_TRUE(made && made->status == 201);
    auto admin = token_of("admin");
    for (const auto& [name, role] : users) {
      auto r = sites->request(1, "POST", "/v1/users",
                              json{{"name", name}, {"role", role}, {"password", name + "-secret-pw"}}.dump(), 0,
                              {{"Authorization", "Bearer " + admin}});
      ASSERT_TRUE(r && r->status == 201) << (r ? r->body : r.err().message);
    }
  }
  // A session at site 1 for a user of add_users ("" when refused).
  std::string token_of(const std::string& name) {
    auto r = sites->request(1, "POST", "/v1/sessions", json{{"name", name}, {"password", name + "-secret-pw"}}.dump(), 0);
    return r && r->status == 201 ? json::parse(r->body).value("token", "") : std::string();
  }

  // A counter of a site's /metrics (0 when absent).
  double metric(int site, const std::string& line_prefix) {
    auto r = sites->request(site, "GET", "/metrics", "", site);
    if (!r) return -1;
    for (std::size_t at = 0, nl; at < r->body.size(); at = nl + 1) {
      nl = std::min(r->body.find('\n', at), r->body.size());
      auto line = r->body.substr(at, nl - at);
      if (line.rfind(line_prefix + " ", 0) == 0) return std::stod(line.substr(line_prefix.size() + 1));
    }
    return 0;
  }

  temp_dir dir{"dm2-similarity"};
  std::map<int, std::unique_ptr<pacs_server>> servers;
  std::unique_ptr<process_consortium> sites;
  std::string patient, duplicate;
  std::vector<fs::path> patient_files;  // the patient's DICOM series, as his physician has it
  std::vector<fs::path> duplicate_files;
};

TEST_F(similarity_process_test, the_planted_near_duplicate_ranks_first_by_each_measure_computed_at_its_owner) {
  for (const char* measure : {"ncc", "mi", "cr"}) {
    auto view = run_query({{"by_series", patient}, {"measure", measure}, {"top_k", 5}, {"stage2_depth", 5},
                           {"timeout_ms", 20000}});
    SCOPED_TRACE(measure);
    std::printf("by_series %s: duplicate %s, ranking %s\n", measure, duplicate.substr(0, 6).c_str(), lfns_of(view).c_str());
    ASSERT_TRUE(view["hits"].is_array() && !view["hits"].empty()) << view.dump();
    EXPECT_FALSE(view.value("deadline_passed", true));
    const auto& first = view["hits"][0];
    EXPECT_EQ(first.value("lfn", ""), duplicate) << lfns_of(view);
    EXPECT_EQ(first.value("owner", ""), "site-2");
    EXPECT_EQ(first.value("stage", 0), 2);
    EXPECT_EQ(first["algorithm"].value("name", ""), measure);
    EXPECT_EQ(first["algorithm"].value("version", ""), "1");
    EXPECT_EQ(first.value("computed_by", ""), "site-2");
    EXPECT_GE(first.value("series_version", 0), 1);
    // The query's own series is not a hit; every candidate was scored at stage 2, by its owner.
    for (const auto& h : view["hits"]) {
      EXPECT_NE(h.value("lfn", ""), patient);
      EXPECT_EQ(h.value("stage", 0), 2) << h.dump();
    }
    EXPECT_TRUE(view["stage2"].value("done", false));
    EXPECT_TRUE(view["stage2"]["failed"].empty()) << view["stage2"].dump();
    EXPECT_EQ(view["stage2"].value("candidates", 0), 5);
    EXPECT_EQ(view["sites"].size(), 3u) << view.dump();
    for (const auto& site : view["sites"]) EXPECT_EQ(site.value("state", ""), "answered") << view["sites"].dump();
  }

  // The same query followed by its event stream: progress until the end, then one "done" event
  // carrying the final ranking, the near-duplicate first.
  auto events = run_query_streamed({{"by_series", patient}, {"measure", "mi"}, {"top_k", 5}, {"stage2_depth", 5},
                                    {"timeout_ms", 20000}});
  ASSERT_FALSE(events.empty());
  for (std::size_t i = 0; i + 1 < events.size(); ++i) {
    EXPECT_EQ(events[i].first, "progress");
    EXPECT_FALSE(events[i].second.value("done", true));
  }
  const auto& [last_name, last] = events.back();
  EXPECT_EQ(last_name, "done");
  EXPECT_TRUE(last.value("done", false)) << last.dump();
  ASSERT_FALSE(last["hits"].empty()) << last.dump();
  EXPECT_EQ(last["hits"][0].value("lfn", ""), duplicate);
  EXPECT_EQ(last["hits"][0].value("stage", 0), 2);
  // Polling and streaming stay side by side; the stream's callers are the poll's.
  EXPECT_EQ(sites->request(1, "GET", "/v1/queries/" + std::string(32, 'a') + "/events", "", 1)->status, 404);
  EXPECT_EQ(sites->request(1, "GET", "/v1/queries/" + std::string(32, 'a') + "/events", "", 0)->status, 401);

  // A signed-in physician's query travels to the owners under his assertion.
  add_users({{"dr-house", "physician"}, {"m-curie", "researcher"}});
  ASSERT_FALSE(HasFailure());
  auto house = token_of("dr-house");
  auto view = run_query({{"by_series", patient}, {"measure", "mi"}, {"top_k", 3}, {"timeout_ms", 20000}}, house);
  ASSERT_FALSE(view["hits"].empty()) << view.dump();
  EXPECT_EQ(view["hits"][0].value("lfn", ""), duplicate) << lfns_of(view);
  EXPECT_EQ(view["hits"][0].value("stage", 0), 2);

  // The physician uploads his patient's series as NIfTI (assembled from his DICOM files): the
  // patient's own series at site 1 is the same image (first), the near-duplicate next.
  auto assembled = pacs::assemble_series(patient_files);
  ASSERT_TRUE(assembled) << assembled.err().message;
  ASSERT_TRUE(pacs::write_nifti(*assembled, dir.path() / "patient.nii"));
  auto nifti = crypto::to_base64(slurp(dir.path() / "patient.nii"));
  auto uploaded = run_query({{"nifti", nifti}, {"measure", "cr"}, {"top_k", 3}, {"timeout_ms", 20000}}, house);
  std::printf("nifti upload cr: patient %s, duplicate %s, ranking %s\n", patient.substr(0, 6).c_str(),
              duplicate.substr(0, 6).c_str(), lfns_of(uploaded).c_str());
  ASSERT_EQ(uploaded["hits"].size(), 3u) << uploaded.dump();
  EXPECT_EQ(uploaded["hits"][0].value("lfn", ""), patient);
  EXPECT_EQ(uploaded["hits"][1].value("lfn", ""), duplicate);
  EXPECT_EQ(uploaded["hits"][1]["algorithm"].value("name", ""), "cr");

  // Bad input: 4xx, and no query starts.
  auto curie = token_of("m-curie");
  struct bad_case {
    json body;
    std::string token;
    int status;
    std::string message;
  };
  const bad_case bad[] = {
      {json{{"by_series", patient}, {"measure", "ssd"}}, "", 400, "unknown measure"},
      {json{{"by_series", patient}, {"measure", "mi"}, {"measure_version", "7"}}, "", 400, "has no version"},
      {json{{"by_series", duplicate}}, "", 404, "owns no series"},  // another site's series
      {json{{"by_series", std::string(32, '0')}}, "", 404, "owns no series"},
      {json{{"by_series", patient}}, curie, 403, "not allowed"},  // a researcher without a grant
      {json{{"signature_hex", "0000803f"}, {"measure", "mi"}}, "", 400, "needs a query by image"},
      {json{{"nifti", crypto::to_base64("not a volume")}}, "", 400, "NIfTI"},
      {json{{"nifti", nifti.substr(0, 600)}}, "", 400, "NIfTI"},  // a header, no voxels
      {json{{"nifti", crypto::to_base64(std::string(8 * 1024 * 1024 + 1, 'x'))}}, "", 413, "over"},
  };
  for (const auto& b : bad) {
    int status = 0;
    auto answer = run_query(b.body, b.token, &status);
    EXPECT_EQ(status, b.status) << b.body.dump() << " " << answer.dump();
    EXPECT_NE(answer.dump().find(b.message), std::string::npos) << answer.dump();
  }
}

TEST_F(similarity_process_test, an_owner_down_before_stage_two_leaves_its_hits_at_stage_one_flagged_on_time) {
  sites->kill(2);
  auto started = std::chrono::steady_clock::now();
  auto events = run_query_streamed({{"by_series", patient}, {"measure", "mi"}, {"top_k", 5}, {"stage2_depth", 5},
                                    {"timeout_ms", 10000}});
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_LT(took, 10s);
  ASSERT_FALSE(events.empty());
  // While site 2 keeps silent the stream says so (waiting, then late: its replicas asked); at the
  // end its records were answered by their replica holders and stage 2 lists it as failed.
  auto state_of = [](const json& view, const std::string& site) {
    for (const auto& s : view.value("sites", json::array()))
      if (s.value("site", "") == site) return s.value("state", "");
    return std::string();
  };
  bool seen_silent = false;
  for (const auto& [name, data] : events)
    if (name == "progress") seen_silent |= state_of(data, "site-2") == "waiting" || state_of(data, "site-2") == "late";
  EXPECT_TRUE(seen_silent);
  EXPECT_EQ(events.back().first, "done");
  const json view = events.back().second;
  EXPECT_EQ(state_of(view, "site-2"), "covered") << view["sites"].dump();
  EXPECT_EQ(state_of(view, "site-3"), "answered") << view["sites"].dump();
  EXPECT_FALSE(view.value("deadline_passed", true)) << view.dump();
  EXPECT_EQ(view["stage2"]["failed"], json::array({"site-2"})) << view["stage2"].dump();
  bool seen_duplicate = false;
  for (const auto& h : view["hits"]) {
    if (h.value("owner", "") == "site-2") {
      EXPECT_EQ(h.value("stage", 0), 1) << h.dump();
      EXPECT_EQ(h.value("stage2_missing", ""), "owner_unavailable") << h.dump();
      EXPECT_EQ(h["score"], h["stage1_score"]);
      seen_duplicate |= h.value("lfn", "") == duplicate;
    } else {
      EXPECT_EQ(h.value("stage", 0), 2) << h.dump();
    }
  }
  EXPECT_TRUE(seen_duplicate) << lfns_of(view);  // a replica holder answered stage 1 for site 2
}

// Stage 2's scoring runs on the owner's own threads, not its request workers: during a burst of
// stage-2 requests (each a new query volume, so every score is computed) the node's other routes
// answer, and requests beyond the one scoring plus two waiting are refused at once with 503.
TEST_F(similarity_process_test, stage_two_scoring_runs_off_the_request_workers_and_a_burst_beyond_its_queue_gets_503) {
  const std::vector<std::string> owned = {duplicate, lfn_by_date()["20240202"]};
  constexpr int burst = 12;
  std::atomic<int> outstanding{burst};
  std::vector<int> statuses(burst, 0);
  std::vector<std::string> bodies(burst);
  std::vector<std::thread> askers;
  for (int i = 0; i < burst; ++i)
    askers.emplace_back([&, i] {
      std::string volume(32 * 32 * 32 * 4, '\0');
      std::mt19937 rng(static_cast<unsigned>(i + 1));
      std::normal_distribution<float> normal;
      for (std::size_t at = 0; at < volume.size(); at += 4) {
        float x = normal(rng);
        std::memcpy(&volume[at], &x, 4);
      }
      auto request = encode_stage_two_request({crypto::to_hex(std::string(16, static_cast<char>('a' + i))), "mi", "1", volume, owned});
      auto r = sites->request(2, "POST", stage_two_path, request, 3, stage_two_type);  // as site 3
      statuses[static_cast<std::size_t>(i)] = r ? r->status : -1;
      bodies[static_cast<std::size_t>(i)] = r ? r->body : r.err().message;
      --outstanding;
    });
  // While scoring runs, site 2 answers /health (the I/O thread) and a route on its request workers.
  int answered_during = 0;
  while (outstanding.load() > 0) {
    auto health = sites->request(2, "GET", "/health", "", 0);
    auto algorithms = sites->request(2, "GET", "/v1/algorithms", "", 2);
    if (outstanding.load() > 0 && health && health->status == 200 && algorithms && algorithms->status == 200)
      ++answered_during;
  }
  for (auto& t : askers) t.join();
  int scored = 0, busy = 0;
  for (int i = 0; i < burst; ++i) {
    auto body = json::parse(bodies[static_cast<std::size_t>(i)], nullptr, false);
    if (statuses[static_cast<std::size_t>(i)] == 200) {
      ++scored;
      ASSERT_EQ(body["scores"].size(), 2u) << body.dump();
      for (const auto& s : body["scores"]) EXPECT_TRUE(s["score"].is_number()) << s.dump();
    } else {
      EXPECT_EQ(statuses[static_cast<std::size_t>(i)], 503) << body.dump();
      EXPECT_EQ(body["error"].value("code", ""), "unavailable") << body.dump();
      ++busy;
    }
  }
  std::printf("burst of %d stage-2 requests: %d scored, %d refused busy; other routes answered %d times meanwhile\n",
              burst, scored, busy, answered_during);
  EXPECT_GE(scored, 2);  // the first, and at least one waiting behind it
  EXPECT_GE(busy, 1);
  EXPECT_GE(answered_during, 1);
  EXPECT_EQ(metric(2, "dm2_stage_two_scores_total{source=\"computed\"}"), 2.0 * scored);
  EXPECT_GE(metric(2, "dm2_http_requests_total{route=\"/v1/similarity/scores\",code=\"503\"}"), busy);
}

// The stage-2 request is binary (stage_two.hpp): from another site, a body that is not that
// frame, a volume of the wrong size or with a NaN, an unknown header field or another content
// type is refused 4xx, nothing is scored, audited as read or stored; the well-formed one is scored.
TEST_F(similarity_process_test, a_malformed_binary_stage_two_request_is_refused_4xx_and_nothing_is_scored_or_stored) {
  const std::vector<std::string> owned = {duplicate};
  const std::string query_id(32, 'd');
  std::string volume(32 * 32 * 32 * 4, '\0');
  for (std::size_t at = 0; at < volume.size(); at += 4) {
    float x = static_cast<float>(at % 97) / 97.0f;
    std::memcpy(&volume[at], &x, 4);
  }
  const auto good = encode_stage_two_request({query_id, "mi", "1", volume, owned});
  auto nan = good;
  const float not_a_number = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(&nan[nan.size() - 4], &not_a_number, 4);
  auto header_length = good.size() - volume.size() - 8;
  auto unknown_field = good;  // "query" renamed "quern": the same length, an unknown field
  unknown_field.replace(unknown_field.find("\"query\""), 7, "\"quern\"");
  auto huge_length = good;
  huge_length.replace(4, 4, std::string("\xff\xff\xff\x7f", 4));
  const std::string json_body = json{{"query", query_id}, {"measure", "mi"}, {"version", "1"}, {"grid", 32},
                                     {"volume", crypto::to_base64(volume)}, {"lfns", owned}}
                                    .dump();
  const std::vector<std::tuple<std::string, std::string, std::map<std::string, std::string>, int>> bad = {
      {"the former JSON form", json_body, {}, 415},
      {"the frame as JSON", good, {}, 415},
      {"no frame", json_body, stage_two_type, 400},
      {"a volume 4 bytes short", good.substr(0, good.size() - 4), stage_two_type, 400},
      {"a byte after the volume", good + "x", stage_two_type, 400},
      {"a NaN sample", nan, stage_two_type, 400},
      {"an unknown header field", unknown_field, stage_two_type, 400},
      {"a header length past the body", huge_length, stage_two_type, 400},
      {"only the header", good.substr(0, 8 + header_length), stage_two_type, 400},
  };
  const std::string computed = R"(dm2_stage_two_scores_total{source="computed"})";
  const double entries_before = metric(2, "dm2_result_cache_entries");
  for (const auto& [what, body, headers, status] : bad) {
    auto r = sites->request(2, "POST", stage_two_path, body, 3, headers);  // as site 3
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(r->status, status) << what << ": " << r->body;
    auto answer = json::parse(r->body, nullptr, false);
    EXPECT_TRUE(answer.is_object() && answer["error"].is_object()) << what << ": " << r->body;
  }
  EXPECT_EQ(metric(2, computed), 0.0);
  EXPECT_EQ(metric(2, "dm2_result_cache_entries"), entries_before);
  auto r = sites->request(2, "POST", stage_two_path, good, 3, stage_two_type);
  ASSERT_TRUE(r && r->status == 200) << (r ? r->body : r.err().message);
  EXPECT_TRUE(json::parse(r->body)["scores"][0]["score"].is_number()) << r->body;
  EXPECT_EQ(metric(2, computed), 1.0);
  EXPECT_EQ(metric(2, "dm2_result_cache_entries"), entries_before + 1);
  ASSERT_TRUE(sites->stop(2));
  auto audit = sites->audit_lines(2);
  ASSERT_TRUE(audit) << audit.err().message;
  int scored_entries = 0;
  for (const auto& line : *audit) scored_entries += line.find("similarity_score") != std::string::npos;
  EXPECT_EQ(scored_entries, 1);  // the well-formed request's decision only
}

TEST_F(similarity_process_test, a_repeated_query_reuses_the_owners_scores_and_provenance_answers_for_each) {
  const json query = {{"by_series", patient}, {"measure", "mi"}, {"top_k", 5}, {"stage2_depth", 5}, {"timeout_ms", 20000}};
  const std::string computed = R"(dm2_stage_two_scores_total{source="computed"})",
                    cached = R"(dm2_stage_two_scores_total{source="cached"})";
  auto first = run_query(query);
  ASSERT_EQ(first["hits"].size(), 5u) << first.dump();
  std::map<std::string, json> by_lfn;  // the first query's hits
  for (const auto& h : first["hits"]) {
    ASSERT_EQ(h.value("stage", 0), 2) << h.dump();
    EXPECT_FALSE(h.value("reused", true)) << h.dump();
    ASSERT_TRUE(h["provenance"].is_string()) << h.dump();
    by_lfn[h.value("lfn", "")] = h;
  }
  const double computed_at_2 = metric(2, computed), cached_at_2 = metric(2, cached);
  EXPECT_EQ(computed_at_2, 2);  // site 2's two series
  EXPECT_EQ(cached_at_2, 0);

  // Provenance answers for every returned score, at the home site and at the computing site.
  std::set<std::string> first_queries;
  for (const auto& [lfn, h] : by_lfn) {
    const std::string path = "/v1/provenance/" + h.value("provenance", "");
    const int owner = h.value("owner", "").back() - '0';
    for (int at : {1, owner}) {
      auto r = sites->request(at, "GET", path, "", at);
      ASSERT_TRUE(r && r->status == 200) << at << " " << (r ? r->body : r.err().message);
      auto p = json::parse(r->body);
      SCOPED_TRACE(p.dump());
      EXPECT_EQ(p["algorithm"].value("name", ""), "mi");
      EXPECT_EQ(p["algorithm"].value("version", ""), "1");
      EXPECT_EQ(p["algorithm"]["parameters"].value("bins", ""), "32");
      EXPECT_EQ(p["input"].value("lfn", ""), lfn);
      EXPECT_EQ(p["input"]["series_version"], h["series_version"]);
      EXPECT_EQ(p["score"], h["score"]);
      EXPECT_EQ(p.value("computed_by", ""), h.value("owner", ""));
      first_queries.insert(p.value("first_query", ""));  // the first query's id, the same for all
      EXPECT_EQ(p["query_volume"].value("grid", 0), 32);
      EXPECT_EQ(p.value("answered_by", ""), "site-" + std::to_string(at));
    }
  }

  ASSERT_EQ(first_queries.size(), 1u);
  EXPECT_EQ(first_queries.begin()->size(), 32u);

  // The CLI asks the same of site 1, as its operator.
  const auto& some = by_lfn.begin()->second;
  child_process cli(built_program("node/dm2").string(),
                    {"provenance", some.value("provenance", ""), "--config", sites->config_file(1).string()}, dir.path(),
                    "cli-provenance");
  EXPECT_EQ(cli.wait(60s), 0) << cli.stderr_text();
  EXPECT_NE(cli.stdout_text().find("mi/1"), std::string::npos) << cli.stdout_text();
  EXPECT_NE(cli.stdout_text().find(some.value("lfn", "")), std::string::npos) << cli.stdout_text();

  // The same query again: every score comes from its owner's cache, nothing is computed.
  auto again = run_query(query);
  ASSERT_EQ(again["hits"].size(), 5u) << again.dump();
  for (const auto& h : again["hits"]) {
    SCOPED_TRACE(h.dump());
    EXPECT_TRUE(h.value("reused", false));
    EXPECT_EQ(h["provenance"], by_lfn[h.value("lfn", "")]["provenance"]);
    EXPECT_EQ(h["score"], by_lfn[h.value("lfn", "")]["score"]);
  }
  EXPECT_EQ(metric(2, computed), computed_at_2);
  EXPECT_EQ(metric(2, cached), cached_at_2 + 2);

  // Bad and unknown ids; no credentials; a researcher without a grant of that series.
  auto bad = sites->request(1, "GET", "/v1/provenance/not-an-id", "", 1);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_TRUE(json::parse(bad->body, nullptr, false).contains("error")) << bad->body;
  auto unknown = sites->request(1, "GET", "/v1/provenance/" + std::string(32, '0'), "", 1);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_TRUE(json::parse(unknown->body, nullptr, false).contains("error")) << unknown->body;
  const std::string one = "/v1/provenance/" + by_lfn[duplicate].value("provenance", "");
  EXPECT_EQ(sites->request(1, "GET", one, "", 0)->status, 401);
  add_users({{"m-curie", "researcher"}});
  auto refused = sites->request(1, "GET", one, "", 0, {{"Authorization", "Bearer " + token_of("m-curie")}});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403) << refused->body;
  EXPECT_EQ(refused->body.find(duplicate), std::string::npos);
  // Both decisions are in site 1's audit chain, under the series' LFN.
  sites->kill(1);
  auto lines = sites->audit_lines(1);
  ASSERT_TRUE(lines);
  std::size_t allowed = 0, denied = 0;
  for (const auto& l : *lines)
    if (l.find("provenance_read " + duplicate) != std::string::npos) (l.find(" allowed") != std::string::npos ? allowed : denied)++;
  EXPECT_GE(allowed, 1u);
  EXPECT_EQ(denied, 1u);
}

TEST_F(similarity_process_test, a_series_re_ingested_with_one_more_slice_is_a_new_version_computed_again) {
  const json query = {{"by_series", patient}, {"measure", "mi"}, {"top_k", 5}, {"stage2_depth", 5}, {"timeout_ms", 20000}};
  const std::string computed = R"(dm2_stage_two_scores_total{source="computed"})";
  auto first = run_query(query);
  std::map<std::string, json> by_lfn;
  for (const auto& h : first["hits"]) by_lfn[h.value("lfn", "")] = h;
  ASSERT_TRUE(by_lfn.count(duplicate)) << lfns_of(first);
  const json before = by_lfn[duplicate];
  ASSERT_TRUE(before["provenance"].is_string()) << before.dump();
  const auto old_version = before.value("series_version", 0u);
  EXPECT_EQ(old_version, 1u);
  auto record_version = [&](int site) {
    auto r = sites->request(site, "GET", "/v1/records?lfn=" + duplicate, "", site);
    auto j = r && r->status == 200 ? json::parse(r->body, nullptr, false) : json();
    return j.is_object() ? j.value("version", 0u) : 0u;
  };
  const auto old_record_version = record_version(2);
  ASSERT_GE(old_record_version, 1u);

  // The near-duplicate gains a slice at site 2's PACS. An incremental run does not see it (its
  // study date is behind the sync cursor); a re-scan does, and makes version 2.
  const auto grown = dir.path() / "extra-slice.dcm";
  test::write_next_slice(duplicate_files, grown);
  ASSERT_EQ(servers[2]->upload({grown}), "");
  auto run_ingest = [&](const std::string& body) {
    auto run = sites->request(2, "POST", "/v1/ingest", body, 2);
    EXPECT_TRUE(run && run->status == 202) << (run ? run->body : run.err().message);
    const auto run_id = run && run->status == 202 ? json::parse(run->body).value("id", "") : "";
    json last;
    EXPECT_TRUE(eventually(
        [&] {
          auto r = sites->request(2, "GET", "/v1/ingest", "", 2);
          auto j = r ? json::parse(r->body, nullptr, false) : json();
          if (!j.is_object() || !j["current_run"].is_null() || !j["last_run"].is_object()) return false;
          last = j["last_run"];
          return last.value("id", "") == run_id && last.value("state", "") == "done";
        },
        90s));
    return last["counts"];
  };
  auto incremental = run_ingest("");
  EXPECT_EQ(incremental.value("series_indexed", 9), 0) << incremental.dump();
  EXPECT_EQ(record_version(2), old_record_version);
  auto rescan = run_ingest(json{{"rescan_since", "19000101"}}.dump());
  EXPECT_EQ(rescan.value("series_indexed", 0), 1) << rescan.dump();    // the near-duplicate
  EXPECT_EQ(rescan.value("series_unchanged", 0), 1) << rescan.dump();  // site 2's other series
  const auto new_record_version = record_version(2);
  EXPECT_GT(new_record_version, old_record_version);
  // The new record (its new signature) reaches the replica holders.
  EXPECT_TRUE(eventually([&] { return record_version(1) == new_record_version || record_version(3) == new_record_version; }, 30s));
  for (int holder : {1, 3}) {
    const auto v = record_version(holder);
    if (v != 0) {
      EXPECT_TRUE(eventually([&] { return record_version(holder) == new_record_version; }, 30s)) << holder;
    }
  }

  // The same query again: the near-duplicate's score is computed again on version 2 (a new
  // provenance record naming it; stage 1 scored the new signature), the others are reused.
  const double computed_at_2 = metric(2, computed);
  auto again = run_query(query);
  bool seen_duplicate = false;
  for (const auto& h : again["hits"]) {
    SCOPED_TRACE(h.dump());
    if (h.value("lfn", "") != duplicate) {
      EXPECT_TRUE(h.value("reused", false));
      continue;
    }
    seen_duplicate = true;
    EXPECT_EQ(h.value("stage", 0), 2);
    EXPECT_FALSE(h.value("reused", true));
    EXPECT_EQ(h.value("series_version", 0u), 2u);
    EXPECT_NE(h["provenance"], before["provenance"]);
    EXPECT_NE(h["stage1_score"], before["stage1_score"]);  // another signature
    for (int at : {1, 2}) {
      auto r = sites->request(at, "GET", "/v1/provenance/" + h.value("provenance", ""), "", at);
      ASSERT_TRUE(r && r->status == 200) << at;
      auto p = json::parse(r->body);
      EXPECT_EQ(p["input"].value("series_version", 0u), 2u);
      EXPECT_EQ(p["input"].value("lfn", ""), duplicate);
      EXPECT_EQ(p["score"], h["score"]);
    }
  }
  EXPECT_TRUE(seen_duplicate) << lfns_of(again);
  EXPECT_EQ(metric(2, computed), computed_at_2 + 1);
  // The superseded score still says what produced it: version 1.
  auto old = sites->request(2, "GET", "/v1/provenance/" + before.value("provenance", ""), "", 2);
  ASSERT_TRUE(old && old->status == 200);
  EXPECT_EQ(json::parse(old->body)["input"].value("series_version", 0u), old_version);

  // A bad re-scan body: 400, and no run starts.
  for (const char* body : {R"({"rescan_since":"2024-01-01"})", R"({"since":"20240101"})", "[1]"}) {
    auto r = sites->request(2, "POST", "/v1/ingest", body, 2);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body << " " << r->body;
    EXPECT_TRUE(json::parse(r->body, nullptr, false).contains("error")) << r->body;
  }
}

// The Study and Series Instance UIDs of a DICOM file.
std::pair<std::string, std::string> uids_of(const fs::path& file) {
  DcmFileFormat ff;
  EXPECT_TRUE(ff.loadFile(file.c_str()).good());
  OFString study, series;
  ff.getDataset()->findAndGetOFString(DCM_StudyInstanceUID, study);
  ff.getDataset()->findAndGetOFString(DCM_SeriesInstanceUID, series);
  return {study.c_str(), series.c_str()};
}

TEST_F(similarity_process_test, a_physician_queries_by_an_uploaded_dicom_series_and_by_the_series_at_his_pacs) {
  add_users({{"dr-house", "physician"}, {"dr-other", "physician"}});
  ASSERT_FALSE(HasFailure());
  // dr-house is on the care team of the patient (seed 1001) at site 1; dr-other is not.
  auto team = sites->request(1, "POST", "/v1/care-teams", json{{"user", "dr-house"}}.dump(), 1,
                             {{"DM2-Patient-ID", synth::identity_of(1001).id}});
  ASSERT_TRUE(team && team->status == 201) << (team ? team->body : team.err().message);
  auto house = token_of("dr-house"), other = token_of("dr-other");
  const fs::path scratch = sites->site_dir(1) / "upload-scratch";
  auto scratch_empty = [&] { return !fs::exists(scratch) || fs::is_empty(scratch); };

  // The physician uploads his patient's DICOM series (the files as he has them, in any order):
  // assembled at site 1, the patient's own series first, the near-duplicate next, as the same
  // series uploaded as NIfTI gives.
  json instances = json::array();
  for (auto f = patient_files.rbegin(); f != patient_files.rend(); ++f) instances.push_back(crypto::to_base64(slurp(*f)));
  auto by_dicom = run_query({{"dicom", instances}, {"measure", "cr"}, {"top_k", 3}, {"timeout_ms", 20000}}, house);
  std::printf("dicom upload cr: patient %s, duplicate %s, ranking %s\n", patient.substr(0, 6).c_str(),
              duplicate.substr(0, 6).c_str(), lfns_of(by_dicom).c_str());
  ASSERT_EQ(by_dicom["hits"].size(), 3u) << by_dicom.dump();
  EXPECT_EQ(by_dicom["hits"][0].value("lfn", ""), patient);
  EXPECT_EQ(by_dicom["hits"][1].value("lfn", ""), duplicate);
  EXPECT_EQ(by_dicom["hits"][1].value("stage", 0), 2);
  EXPECT_EQ(by_dicom["hits"][1]["algorithm"].value("name", ""), "cr");
  auto assembled = pacs::assemble_series(patient_files);
  ASSERT_TRUE(assembled) << assembled.err().message;
  ASSERT_TRUE(pacs::write_nifti(*assembled, dir.path() / "patient.nii"));
  auto by_nifti = run_query({{"nifti", crypto::to_base64(slurp(dir.path() / "patient.nii"))}, {"measure", "cr"},
                             {"top_k", 3}, {"timeout_ms", 20000}}, house);
  ASSERT_EQ(by_nifti["hits"].size(), 3u) << by_nifti.dump();
  EXPECT_NEAR(by_dicom["hits"][1].value("score", 0.0), by_nifti["hits"][1].value("score", 1.0), 1e-3);
  EXPECT_TRUE(scratch_empty());  // the upload is gone once the query volume is computed
  // The CLI uploads a folder of DICOM files the same way (the operator: any caller may upload).
  child_process cli(built_program("node/dm2").string(),
                    {"query", "--config", sites->config_file(1).string(), "--by-dicom",
                     patient_files.front().parent_path().string(), "--measure", "cr", "--top-k", "3", "--timeout", "20",
                     "--json"},
                    dir.path(), "cli-by-dicom");
  EXPECT_EQ(cli.wait(60s), 0) << cli.stderr_text();
  auto printed = json::parse(cli.stdout_text(), nullptr, false);
  ASSERT_TRUE(printed.is_object() && !printed["hits"].empty()) << cli.stdout_text();
  EXPECT_EQ(printed["hits"][0].value("lfn", ""), patient);
  EXPECT_TRUE(scratch_empty());

  // Bad uploads: 4xx with a JSON error, no query, nothing left behind.
  auto one_of_each = json::array({crypto::to_base64(slurp(patient_files[0])), crypto::to_base64(slurp(duplicate_files[1]))});
  json too_many = json::array();
  for (int i = 0; i < 1025; ++i) too_many.push_back("AAAA");
  struct bad_case {
    json body;
    int status;
    std::string message;
  };
  const bad_case bad[] = {
      {json{{"dicom", json::array({crypto::to_base64("not a DICOM file at all")})}}, 400, "dicom: "},
      {json{{"dicom", one_of_each}}, 400, "mixed series"},
      {json{{"dicom", json::array()}}, 400, "dicom"},
      {json{{"dicom", json::array({"not base64!"})}}, 400, "dicom"},
      {json{{"dicom", too_many}}, 413, "1024 files"},
      {json{{"dicom", instances}, {"nifti", "AAAA"}}, 400, "one of"},
  };
  for (const auto& b : bad) {
    int status = 0;
    auto answer = run_query(b.body, house, &status);
    EXPECT_EQ(status, b.status) << b.body.dump().substr(0, 200) << " " << answer.dump();
    EXPECT_TRUE(answer.contains("error")) << answer.dump();
    EXPECT_NE(answer.dump().find(b.message), std::string::npos) << answer.dump();
  }
  EXPECT_TRUE(scratch_empty());

  // By the original series at site 1's PACS (the UIDs his PACS viewer shows): resolved to the
  // ingested series, the care team checked, then as by_series — the near-duplicate first, the
  // patient's own series not a hit.
  const auto [study_uid, series_uid] = uids_of(patient_files.front());
  const json pacs_series = {{"study_uid", study_uid}, {"series_uid", series_uid}};
  auto by_pacs = run_query({{"pacs_series", pacs_series}, {"measure", "mi"}, {"top_k", 3}, {"timeout_ms", 20000}}, house);
  ASSERT_FALSE(by_pacs["hits"].empty()) << by_pacs.dump();
  EXPECT_EQ(by_pacs["hits"][0].value("lfn", ""), duplicate) << lfns_of(by_pacs);
  EXPECT_EQ(by_pacs["hits"][0].value("stage", 0), 2);
  for (const auto& h : by_pacs["hits"]) EXPECT_NE(h.value("lfn", ""), patient);
  // The series UID alone is enough.
  auto series_only = run_query({{"pacs_series", {{"series_uid", series_uid}}}, {"top_k", 3}, {"timeout_ms", 20000}}, house);
  ASSERT_FALSE(series_only["hits"].empty()) << series_only.dump();
  EXPECT_EQ(series_only["hits"][0].value("lfn", ""), duplicate) << lfns_of(series_only);

  const bad_case refused[] = {
      {json{{"pacs_series", {{"series_uid", "1.2.3.4.5"}}}}, 404, "no such series"},
      {json{{"pacs_series", {{"series_uid", series_uid}, {"study_uid", "1.2.3.4.5"}}}}, 404, "no such series"},
      {json{{"pacs_series", {{"series_uid", "abc"}}}}, 400, "pacs_series.series_uid"},
      {json{{"pacs_series", {{"study_uid", study_uid}}}}, 400, "series_uid"},
      {json{{"pacs_series", {{"series_uid", series_uid}, {"patient", "x"}}}}, 400, "pacs_series.patient"},
  };
  for (const auto& b : refused) {
    int status = 0;
    auto answer = run_query(b.body, house, &status);
    EXPECT_EQ(status, b.status) << b.body.dump() << " " << answer.dump();
    EXPECT_NE(answer.dump().find(b.message), std::string::npos) << answer.dump();
    EXPECT_EQ(answer.dump().find(series_uid), std::string::npos) << answer.dump();  // never echoed
  }
  // A physician outside the care team, and the site's operator (no user: no care team): 403.
  int status = 0;
  auto outsider = run_query({{"pacs_series", pacs_series}}, other, &status);
  EXPECT_EQ(status, 403) << outsider.dump();
  auto operator_answer = run_query({{"pacs_series", pacs_series}}, "", &status);
  EXPECT_EQ(status, 403) << operator_answer.dump();

  // A new study of the patient at site 1's PACS, not ingested (no ingest run since): fetched from
  // the PACS into the upload scratch for the query, which is empty again afterwards; the
  // patient's series and the near-duplicate rank first. Decided on the patient's care team
  // before anything is fetched.
  synth::phantom_options rescan;
  rescan.kind = synth::study_kind::heart_mr;
  rescan.seed = 1001;
  rescan.variant = 2;
  rescan.size = 64;
  rescan.study_date = "20240110";
  fs::create_directories(dir.path() / "rescan");
  auto written = synth::write_phantom_series(dir.path() / "rescan", rescan);
  ASSERT_EQ(servers[1]->upload(written.files), "");
  const json new_series = {{"study_uid", written.study_uid}, {"series_uid", written.series_uid}};
  auto by_new = run_query({{"pacs_series", new_series}, {"measure", "mi"}, {"top_k", 3}, {"timeout_ms", 20000}}, house);
  ASSERT_GE(by_new["hits"].size(), 2u) << by_new.dump();
  const std::set<std::string> same_patient = {patient, duplicate};
  EXPECT_EQ(same_patient.count(by_new["hits"][0].value("lfn", "")), 1u) << lfns_of(by_new);
  EXPECT_EQ(same_patient.count(by_new["hits"][1].value("lfn", "")), 1u) << lfns_of(by_new);
  EXPECT_EQ(by_new["hits"][0].value("stage", 0), 2);
  EXPECT_TRUE(scratch_empty());
  auto new_outsider = run_query({{"pacs_series", new_series}}, other, &status);
  EXPECT_EQ(status, 403) << new_outsider.dump();
  auto new_operator = run_query({{"pacs_series", new_series}}, "", &status);
  EXPECT_EQ(status, 403) << new_operator.dump();
  EXPECT_TRUE(scratch_empty());
  // Still not ingested: nothing of it was stored (the query by stage 1 sees the six series only).
  EXPECT_EQ(lfn_by_date().size(), 6u);

  // Neither UID reaches site 1's log.
  for (const auto& uid : {series_uid, study_uid, written.series_uid, written.study_uid})
    EXPECT_EQ(sites->stderr_text(1).find(uid), std::string::npos) << uid;

  // The decisions are in site 1's audit chain, under the patient's series LFN.
  sites->kill(1);
  auto lines = sites->audit_lines(1);
  ASSERT_TRUE(lines);
  const auto patient_ref = json::parse(team->body).value("patient_ref", "");
  std::size_t allowed = 0, denied = 0, new_allowed = 0, new_denied = 0;
  for (const auto& l : *lines) {
    EXPECT_EQ(l.find(series_uid), std::string::npos) << l;
    EXPECT_EQ(l.find(written.series_uid), std::string::npos) << l;
    if (l.find("query_by_pacs_series " + patient) != std::string::npos)
      (l.find(" allowed") != std::string::npos ? allowed : denied)++;
    if (!patient_ref.empty() && l.find("query_by_pacs_series " + patient_ref) != std::string::npos)
      (l.find(" allowed") != std::string::npos ? new_allowed : new_denied)++;
  }
  EXPECT_EQ(allowed, 2u);
  EXPECT_EQ(denied, 2u);
  EXPECT_FALSE(patient_ref.empty()) << team->body;
  EXPECT_EQ(new_allowed, 1u);
  EXPECT_EQ(new_denied, 2u);
}

}  // namespace
}  // namespace dm2::test
