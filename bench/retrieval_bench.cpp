// Retrieval benchmark (bench/retrieval_bench.sh prints the table): one de-identified series
// through dm2 against fetching it from the PACS with the standard tool, in the same run.
//  dm2:       a 3-site consortium of real dm2d processes; site 1 ingests the series from its
//             Orthanc, then its patient signs in (`dm2 sign-in`) and retrieves it with the
//             clinician's tool, `dm2 series get LFN --session FILE -o DIR`, which writes one .dcm
//             file per instance as the multipart answer streams, as getscu writes one per
//             instance: the home site (the owner) asks sites 2 and 3 for key shares over mutual
//             TLS, combines t = 2 (its own and the first holder's), and streams multipart/related,
//             opening one sealed file of its object store at a time. Timed from the command's
//             start to its exit, files written.
//  in memory: the same hit read by the bench's own HTTPS client into one string (no goal): it
//             shows the cost of holding a 100 MB body in fresh memory (page faults and
//             zero-fill, which depend on the machine), the reason the goals time the CLI.
//  miss:      the same GET after the series was evicted (pacs.object_cache_bytes = 1: reading a
//             second, tiny series evicts it): re-fetched from Orthanc, each instance
//             de-identified, sealed and streamed as it arrives, the copy placed when complete.
//             Goal <= 1.3x getscu.
//  baseline:  DCMTK's getscu (TCP_NODELAY=1) from the same Orthanc (C-GET of the series into a
//             directory). It decrypts nothing and asks no site for anything.
//  rounds:    5 (--quick: 3), each a getscu, a miss and a hit, interleaved once the sites run
//             (getscu just before the miss in rounds 1, 3, 5, just after its re-assembly ended
//             in rounds 2, 4), so both sides of a ratio meet the same load on a shared machine;
//             each column is the median of its rounds, the goals compare medians, and each
//             round's pair is printed. Then the NIfTI form of a miss (?format=nifti, which
//             waits for the volume assembled and sealed after the fetch), median of 3; no goal.
//  key:       t share requests (sites 2 and 3, in parallel, each a new mutual-TLS connection
//             with a fresh signed assertion, as the node sends them), 100 times: p50 and p99.
//             And 100 share requests under a cross-site grant (site 2's researcher, granted by
//             site 1's physician) to site 3, which first asks the owner (site 1) whether the
//             grant is live, over its own peer connection to it.
// Usage: retrieval_bench [--quick] [slices=200] [size=512]
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "access/assertion.hpp"
#include "bench_ingest.hpp"
#include "bench_support.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/private_file.hpp"
#include "pacs_server_fixture.hpp"
#include "process_consortium.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace fs = std::filesystem;
using dm2::bench::clock_type;
using dm2::bench::count_files;
using dm2::bench::median;
using dm2::bench::percentile;
using dm2::bench::seconds_since;
using json = nlohmann::json;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int fail_with(const std::string& why) {
  std::fprintf(stderr, "retrieval_bench: %s\n", why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const bool quick = !args.empty() && args[0] == "--quick";
  if (quick) args.erase(args.begin());
  const unsigned slices =
      args.size() > 0 ? static_cast<unsigned>(std::atoi(args[0].c_str())) : (quick ? 40 : 200);
  const unsigned size =
      args.size() > 1 ? static_cast<unsigned>(std::atoi(args[1].c_str())) : (quick ? 256 : 512);
  if (!std::getenv("DM2_BINARY_DIR")) return fail_with("set DM2_BINARY_DIR to the build directory");
  if (auto why = dm2::test::confine_to_private_network(); !why.empty())
    return fail_with("needs a private network namespace (run as root): " + why);

  dm2::test::temp_dir dir("dm2-retrieval-bench");
  fs::create_directories(dir / "orthanc");
  dm2::test::orthanc_server orthanc(dir / "orthanc");
  if (auto why = orthanc.start(); !why.empty()) return fail_with("Orthanc: " + why);
  dm2::test::synthetic_options o;
  o.slices = slices;
  o.rows = o.columns = size;
  o.patient_id = "BENCH-PID-1";
  fs::create_directories(dir / "series");
  auto series = dm2::test::write_synthetic_series(dir / "series", o);
  std::uint64_t bytes = 0;
  for (const auto& f : series.files) bytes += fs::file_size(f);
  if (auto why = orthanc.upload(series.files); !why.empty()) return fail_with("upload: " + why);
  fs::remove_all(dir / "series");
  // Another patient's tiny series: reading it evicts the big one (a cap of one byte keeps only
  // the series placed last).
  dm2::test::synthetic_options tiny_o;
  tiny_o.slices = 2;
  tiny_o.rows = tiny_o.columns = 16;
  tiny_o.patient_id = "BENCH-PID-2";
  fs::create_directories(dir / "tiny");
  auto tiny = dm2::test::write_synthetic_series(dir / "tiny", tiny_o);
  if (auto why = orthanc.upload(tiny.files); !why.empty()) return fail_with("upload: " + why);
  const double mb = static_cast<double>(bytes) / 1e6;

  // dm2: three sites, site 1 ingests the series.
  dm2::test::consortium_options co;
  co.sites = 3;
  co.address_octet = 92;
  co.extra_toml =
      "[overlay]\nrepair_period_s = 2\n[accounts]\nargon2_memory_kib = 1024\nargon2_passes = 1\n";
  auto settings = orthanc.settings();
  co.site_toml[1] = "[pacs]\nhost = \"127.0.0.1\"\nport = " + std::to_string(settings.port) +
                    "\ncalled_ae_title = \"" + settings.called_ae_title +
                    "\"\ncalling_ae_title = \"" + settings.calling_ae_title +
                    "\"\nstore_port = 0\nobject_cache_bytes = 1\n";
  auto cons = dm2::test::process_consortium::create(dir / "consortium", co);
  if (!cons) return fail_with("consortium: " + cons.err().to_string());
  auto& c = **cons;
  if (auto s = c.start_all(); !s) return fail_with("dm2d: " + s.err().to_string());
  auto report = dm2::bench::wait_for_ingest(c, 1, std::chrono::minutes(30));
  if (report.empty() || report["last_run"]["counts"].value("series_indexed", 0u) != 2)
    return fail_with("the ingest did not index the series: " + report.dump());
  auto listed = c.request(1, "GET", "/v1/overlay/records?limit=10", {}, 1);
  auto records = json::parse(listed ? listed->body : "", nullptr, false);
  if (!records.is_object() || records["records"].size() != 2) return fail_with("two records not listed");

  // A patient account and its session's header; the account's id.
  auto patient = [&](const std::string& name, const std::string& patient_id,
                     std::map<std::string, std::string>& auth) -> std::string {
    auto user = c.request(1, "POST", "/v1/users",
                          json{{"name", name}, {"role", "patient"}, {"password", name + "-pw"}, {"patient_id", patient_id}}
                              .dump(),
                          1);
    auto session = c.request(1, "POST", "/v1/sessions", json{{"name", name}, {"password", name + "-pw"}}.dump(), 0);
    if (!user || user->status != 201 || !session || session->status != 201) return "";
    auth = {{"Authorization", "Bearer " + json::parse(session->body).value("token", "")}};
    return json::parse(user->body).value("id", "");
  };
  std::map<std::string, std::string> auth, tiny_auth;
  auto user_id = patient("bench-patient", o.patient_id, auth);
  if (user_id.empty() || patient("bench-other", tiny_o.patient_id, tiny_auth).empty())
    return fail_with("patient accounts or sign-in failed");
  auto get = [&](const std::string& lfn, const std::map<std::string, std::string>& as) {
    return c.request(1, "GET", "/v1/series/" + lfn, {}, 0, as);
  };
  const auto session = dir / "bench-patient.session";
  if (auto in = c.dm2(1, {"sign-in", "bench-patient", "--session", session.string()}, "bench-patient-pw"); in.code != 0)
    return fail_with("dm2 sign-in: " + in.err);
  // `dm2 series get` into a fresh directory: its seconds and the bytes it received, or a negative
  // time when it failed or wrote other than one file per instance.
  struct cli_get_result {
    double seconds = -1;
    std::uint64_t bytes = 0;
  };
  auto cli_get = [&](const std::string& lfn, const std::string& label) {
    auto out = dir / "dm2-get" / label;
    auto t0 = clock_type::now();
    auto got = c.dm2(1, {"series", "get", lfn, "--session", session.string(), "-o", out.string(), "--json"});
    cli_get_result r;
    r.seconds = seconds_since(t0);
    auto summary = json::parse(got.out, nullptr, false);
    if (got.code != 0 || !summary.is_object() || count_files(out) != slices) {
      std::fprintf(stderr, "retrieval_bench: dm2 series get: exit %d: %s\n", got.code, got.err.c_str());
      r.seconds = -1;
    } else {
      r.bytes = summary.value("bytes", std::uint64_t{0});
    }
    fs::remove_all(out);
    return r;
  };
  // Each patient's LFN: the one she may read. The first reads wait for the share round (each
  // series' key shares are placed at the replicator's tick after its ingest: not both at once).
  std::string lfn, tiny_lfn;
  if (!dm2::test::eventually(
          [&] {
            for (const auto& r : records["records"]) {
              auto l = r.value("lfn", "");
              auto got = get(l, auth);
              if (got && got->status == 200) lfn = l;
              else if (got && got->status == 403) tiny_lfn = l;
            }
            if (lfn.empty() || tiny_lfn.empty()) return false;
            auto tiny_read = get(tiny_lfn, tiny_auth);
            return tiny_read && tiny_read->status == 200;
          },
          std::chrono::seconds(60)))
    return fail_with("the series never became retrievable by their patients");
  // No re-assembly under way (each seals into a staging directory until it is placed): the
  // evicting read has evicted, the re-assembled copy is in place.
  auto settled = [&] {
    return dm2::test::eventually(
        [&] {
          for (const auto& e : fs::directory_iterator(c.site_dir(1) / "objects"))
            if (e.path().filename().string().rfind(".staging", 0) == 0) return false;
          return true;
        },
        std::chrono::seconds(60));
  };
  // Baseline: getscu into a fresh directory; its seconds, or a negative number when it failed.
  auto getscu = [&](int run) -> double {
    auto got = dir / "getscu" / std::to_string(run);
    fs::create_directories(got);
    auto t0 = clock_type::now();
    dm2::test::child_process p(
        "/usr/bin/env",
        {"TCP_NODELAY=1", "/usr/bin/getscu", "-aet", dm2::test::test_our_ae, "-aec",
         orthanc.ae_title(), "-od", got.string(), "-S", "-k", "QueryRetrieveLevel=SERIES", "-k",
         "StudyInstanceUID=" + series.study_uid, "-k", "SeriesInstanceUID=" + series.series_uid,
         "127.0.0.1", std::to_string(orthanc.port())},
        dir / "getscu", "getscu-" + std::to_string(run));
    auto rc = p.wait(std::chrono::seconds(600));
    double s = seconds_since(t0);
    bool ok = rc && *rc == 0 && count_files(got) == slices;
    if (!ok) std::fprintf(stderr, "retrieval_bench: getscu: %s\n", p.stderr_text().c_str());
    fs::remove_all(got);
    return ok ? s : -1;
  };
  std::vector<double> dm2_s, miss_s, getscu_s, in_memory_s;
  std::uint64_t answered = 0;
  const int rounds = quick ? 3 : 5;
  for (int run = 0; run < rounds; ++run) {
    if (!settled()) return fail_with("a re-assembly never ended");
    auto evicting = get(tiny_lfn, tiny_auth);
    if (!evicting || evicting->status != 200)
      return fail_with("the tiny series' retrieval failed: " + (evicting ? std::to_string(evicting->status) + " " + evicting->body : evicting.err().to_string()));
    if (!settled()) return fail_with("the tiny series was never placed");
    const bool getscu_first = run % 2 == 0;
    if (getscu_first) getscu_s.push_back(getscu(run));
    auto missed = cli_get(lfn, "miss-" + std::to_string(run));
    miss_s.push_back(missed.seconds);
    if (missed.seconds < 0) return fail_with("retrieval after eviction failed");
    // Once the re-assembly's tail (the volume, the placing) is over: getscu never shares the
    // machine with the node's own work.
    if (!getscu_first) {
      if (!settled()) return fail_with("the re-assembled series was never placed");
      getscu_s.push_back(getscu(run));
    }
    if (getscu_s.back() < 0) return fail_with("getscu failed");
    // The answer streams while the re-assembly runs; its copy is placed once the volume is sealed
    // too. The hit below reads that copy.
    if (!settled()) return fail_with("the re-assembled series was never placed");
    auto hit = cli_get(lfn, "hit-" + std::to_string(run));
    dm2_s.push_back(hit.seconds);
    if (hit.seconds < 0) return fail_with("retrieval failed");
    // (Each answer draws its own multipart boundary: the lengths match, the test compares bytes.)
    if (hit.bytes != missed.bytes)
      return fail_with("the re-assembled series' answer differs in length from the cached one's");
    answered = hit.bytes;
    auto t0 = clock_type::now();
    auto held = get(lfn, auth);
    in_memory_s.push_back(seconds_since(t0));
    if (!held || held->status != 200 || held->body.size() != answered) return fail_with("retrieval into memory failed");
  }
  // The NIfTI form of a miss (?format=nifti): its answer waits for the volume, assembled and
  // sealed after the fetch. Reported, no goal.
  std::vector<double> nifti_miss_s;
  for (int run = 0; run < (quick ? 1 : 3); ++run) {
    auto evicting = get(tiny_lfn, tiny_auth);
    if (!evicting || evicting->status != 200 || !settled()) return fail_with("the tiny series was never placed");
    auto t0 = clock_type::now();
    auto volume = c.request(1, "GET", "/v1/series/" + lfn + "?format=nifti", {}, 0, auth);
    nifti_miss_s.push_back(seconds_since(t0));
    if (!volume || volume->status != 200) return fail_with("the volume's retrieval after eviction failed");
    if (!settled()) return fail_with("the re-assembled series was never placed");
  }

  // A fresh assertion for `lfn`'s key share, signed by site `site` (its DHT key) for `a`'s user.
  namespace access = dm2::node::access;
  auto share_assertion = [&](int site, access::assertion a) {
    a.site = "site-" + std::to_string(site);
    a.lfns = {lfn};
    a.classes = {access::data_class::key_share};
    auto key = dm2::crypto::read_private_file(c.site_dir(site) / "identity" / "dht.key");
    return key ? access::sign_assertion(std::move(a), *key, now_ms()) : dm2::result<std::string>(key.err());
  };
  // Key reconstruction: t = 2 share requests in parallel, each with its own signed assertion.
  std::vector<double> key_ms;
  for (int i = 0; i < 100; ++i) {
    access::assertion a;
    a.user = user_id;
    a.who = access::role::patient;
    a.basis = access::basis_own_record;
    auto wire = share_assertion(1, a);
    if (!wire) return fail_with("sign: " + wire.err().message);
    auto t0 = clock_type::now();
    auto ask = [&](int site) {
      auto r = c.request(site, "GET", "/v1/key-shares/" + lfn, {}, 1, {{"DM2-Assertion", *wire}});
      return r && r->status == 200;
    };
    auto second = std::async(std::launch::async, ask, 3);
    bool ok = ask(2);
    ok = second.get() && ok;
    key_ms.push_back(seconds_since(t0) * 1000);
    if (!ok) return fail_with("a share request failed");
  }

  // Under a cross-site grant: site 1's physician (in the patient's care team) grants a researcher
  // of site 2; a holder (site 3) releases its share to site 2 only after asking the owner (site 1)
  // whether the grant is live, over the holder's peer connection to it (kept alive: https_pool).
  auto site_key = *dm2::crypto::read_private_file(c.site_dir(1) / "identity" / "storage.key");
  auto ref = dm2::crypto::to_hex(dm2::crypto::hmac_sha256(site_key, "dm2 patient ref v1" + o.patient_id)).substr(0, 32);
  auto made = [&](int site, const std::string& name, const char* role) {
    auto r = c.request(site, "POST", "/v1/users",
                       json{{"name", name}, {"role", role}, {"password", name + "-pw"}}.dump(), site);
    return r && r->status == 201 ? json::parse(r->body).value("id", "") : std::string();
  };
  auto researcher = made(2, "bench-researcher", "researcher");
  auto physician = made(1, "bench-physician", "physician");
  auto signed_in = c.request(1, "POST", "/v1/sessions", json{{"name", "bench-physician"}, {"password", "bench-physician-pw"}}.dump(), 0);
  auto teamed = c.request(1, "POST", "/v1/care-teams/" + ref, json{{"user", "bench-physician"}}.dump(), 1);
  if (researcher.empty() || physician.empty() || !signed_in || signed_in->status != 201 || !teamed || teamed->status != 201)
    return fail_with("the physician, the care team or the researcher could not be made");
  auto granted = c.request(1, "POST", "/v1/grants",
                           json{{"lfns", {lfn}},
                                {"classes", {"deidentified_image", "key_share"}},
                                {"expires_in_s", 3600},
                                {"grantee_id", researcher + "@site-2"},
                                {"purpose", "research"}}
                               .dump(),
                           0, {{"Authorization", "Bearer " + json::parse(signed_in->body).value("token", "")}});
  if (!granted || granted->status != 201) return fail_with("the cross-site grant failed");
  auto grant_id = json::parse(granted->body).value("id", "");
  std::vector<double> grant_ms;
  for (int i = 0; i < 100; ++i) {
    access::assertion a;
    a.user = researcher;
    a.who = access::role::researcher;
    a.why = access::purpose::research;
    a.grant = grant_id;
    auto wire = share_assertion(2, a);
    if (!wire) return fail_with("sign: " + wire.err().message);
    auto t0 = clock_type::now();
    auto r = c.request(3, "GET", "/v1/key-shares/" + lfn, {}, 2, {{"DM2-Assertion", *wire}});
    grant_ms.push_back(seconds_since(t0) * 1000);
    if (!r || r->status != 200) return fail_with("a share request under the cross-site grant failed");
  }

  // Where the time went at the node: its log lines of the last retrieval (key rebuilt, answer
  // ready) and of the last re-assembly (fetch, de-identification, sealing and placing).
  auto log = c.stderr_text(1);
  auto last_line = [&](const std::string& event) {
    auto at = log.rfind(event);
    return at == std::string::npos ? std::string("?") : log.substr(at, log.find('\n', at) - at);
  };
  auto handler = last_line("event=series_retrieved"), restored = last_line("event=series_restored");
  const double ours = median(dm2_s), theirs = median(getscu_s), miss = median(miss_s);
  std::printf(
      "# one CT series, %u slices of %ux%u, %.1f MB of DICOM (answer %.1f MB multipart), Orthanc "
      "on 127.0.0.1,"
      " %u cores; t = 2 of n = 3\n",
      slices, size, size, mb, static_cast<double>(answered) / 1e6,
      std::thread::hardware_concurrency());
  std::printf(
      "| retrieval (median of %d rounds)                      | seconds |  MB/s | vs getscu |\n", rounds);
  std::printf(
      "|-------------------------------------------------------|--------:|------:|----------:|\n");
  std::printf(
      "| dm2 series get (cache hit: object store)              | %7.3f | %5.1f | %8.2fx |\n", ours,
      mb / ours, theirs / ours);
  std::printf(
      "| getscu TCP_NODELAY=1 from the owner's Orthanc         | %7.3f | %5.1f | %8.2fx |\n",
      theirs, mb / theirs, 1.0);
  std::printf(
      "| dm2 series get, cache miss (re-assembled from the PACS) | %7.3f | %5.1f | %8.2fx |\n", miss,
      mb / miss, theirs / miss);
  std::printf("| cache hit into the bench's memory (no goal)           | %7.3f | %5.1f | %8.2fx |\n",
              median(in_memory_s), mb / median(in_memory_s), theirs / median(in_memory_s));
  std::printf("| dm2 cache miss, NIfTI volume (median of %zu, no goal)   | %7.3f |       |           |\n",
              nifti_miss_s.size(), median(nifti_miss_s));
  std::printf("\n| round | getscu s | miss s | miss / getscu | hit s | hit in memory s |\n|---|---:|---:|---:|---:|---:|\n");
  for (int run = 0; run < rounds; ++run)
    std::printf("| %d (%s first) | %.3f | %.3f | %.2fx | %.3f | %.3f |\n", run + 1, run % 2 == 0 ? "getscu" : "miss",
                getscu_s[run], miss_s[run], miss_s[run] / getscu_s[run], dm2_s[run], in_memory_s[run]);
  std::printf("\n| key reconstruction: t = 2 share requests, mutual TLS | p50 ms | p99 ms |\n");
  std::printf("|-------------------------------------------------------|-------:|-------:|\n");
  std::printf("| 100 requests, new connection and assertion each       | %6.1f | %6.1f |\n",
              percentile(key_ms, 0.5), percentile(key_ms, 0.99));
  std::printf("| cross-site grant: 1 holder, which asks the owner first | %6.1f | %6.1f |\n",
              percentile(grant_ms, 0.5), percentile(grant_ms, 0.99));
  std::printf("\nsite 1, last retrieval: %s\nsite 1, last re-assembly: %s\n", handler.c_str(), restored.c_str());
  std::printf("\ngoal: cache hit >= 2x faster than getscu: %.2fx %s\n", theirs / ours,
              theirs / ours >= 2 ? "MET" : "NOT MET");
  std::printf("goal: cache miss <= 1.3x getscu's time: %.2fx %s\n", miss / theirs,
              miss / theirs <= 1.3 ? "MET" : "NOT MET");
  std::printf("goal: key reconstruction p99 < 50 ms: %.1f ms %s\n", percentile(key_ms, 0.99),
              percentile(key_ms, 0.99) < 50 ? "MET" : "NOT MET");
  return 0;
}
