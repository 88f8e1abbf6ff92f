// Ingest benchmark (bench/ingest_bench.sh prints the table): series/s and MB/s from a local
// Orthanc to committed, replicated index records, against the same work done with standard
// tools in the same run.
//  dm2:       a 3-site consortium of real dm2d processes; site 1's [pacs] is the Orthanc. One
//             POST /v1/ingest, timed until the run is done with every series indexed and every
//             record held by the other two sites. Per-stage seconds from site 1's /metrics.
//  baseline:  per series, DCMTK's getscu (TCP_NODELAY=1) -> gdcmanon -e (PS3.15 basic profile,
//             removed attributes encrypted to a certificate) -> tar | openssl enc (AES-256-CTR,
//             fresh key per series: `enc` refuses GCM), two series at a time (the 2 cores).
//             It computes no signature, writes no index record and replicates nothing: dm2 does
//             more work than the baseline.
// Series: anatomy-like heart MR and chest CT (simulations/synth), alternating, seeds 1..N.
// Usage: ingest_bench [--quick] [series=12] [slices=48] [size=256]
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "bench_ingest.hpp"
#include "bench_support.hpp"
#include "dm2/crypto/hash.hpp"
#include "pacs_server_fixture.hpp"
#include "phantom.hpp"
#include "process_consortium.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace fs = std::filesystem;
using dm2::bench::clock_type;
using dm2::bench::count_files;
using dm2::bench::seconds_since;
using json = nlohmann::json;

namespace {

// Runs `jobs` (each returns "" or why it failed) `parallel` at a time; the first failure.
std::string run_parallel(const std::vector<std::function<std::string()>>& jobs, unsigned parallel) {
  std::atomic<std::size_t> next{0};
  std::mutex m;
  std::string failure;
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < parallel; ++w)
    workers.emplace_back([&] {
      for (std::size_t i; (i = next++) < jobs.size();) {
        auto why = jobs[i]();
        std::lock_guard<std::mutex> lock(m);
        if (!why.empty() && failure.empty()) failure = why;
      }
    });
  for (auto& t : workers) t.join();
  return failure;
}

std::string run_tool(const std::vector<std::string>& args, const fs::path& log_dir, const std::string& name) {
  dm2::test::child_process p("/usr/bin/env", args, log_dir, name);
  auto rc = p.wait(std::chrono::seconds(600));
  if (!rc || *rc != 0) return name + " failed: " + p.stderr_text();
  return "";
}

struct series_info {
  std::string study_uid, series_uid;
  std::size_t files = 0;
};

// Sums of dm2's per-stage histogram (seconds), from Prometheus text: name_sum{stage="x"} v.
std::map<std::string, double> stage_sums(const std::string& metrics) {
  std::map<std::string, double> out;
  static const std::regex line(R"re(dm2_ingest_stage_seconds_sum\{[^}]*stage="([a-z_]+)"[^}]*\} ([0-9.eE+-]+))re");
  for (std::sregex_iterator it(metrics.begin(), metrics.end(), line), end; it != end; ++it)
    out[(*it)[1]] += std::stod((*it)[2]);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  const bool quick = !args.empty() && args[0] == "--quick";
  if (quick) args.erase(args.begin());
  const unsigned n_series = args.size() > 0 ? static_cast<unsigned>(std::atoi(args[0].c_str())) : (quick ? 4 : 12);
  const unsigned slices = args.size() > 1 ? static_cast<unsigned>(std::atoi(args[1].c_str())) : (quick ? 24 : 48);
  const unsigned size = args.size() > 2 ? static_cast<unsigned>(std::atoi(args[2].c_str())) : (quick ? 128 : 256);
  const char* bin = std::getenv("DM2_BINARY_DIR");
  if (!bin) return std::fprintf(stderr, "ingest_bench: set DM2_BINARY_DIR to the build directory\n"), 2;
  // Orthanc cannot be bound to loopback: everything runs in a private network namespace.
  if (auto why = dm2::test::confine_to_private_network(); !why.empty())
    return std::fprintf(stderr, "ingest_bench needs a private network namespace (run as root): %s\n", why.c_str()), 1;

  dm2::test::temp_dir dir("dm2-ingest-bench");
  fs::create_directories(dir / "orthanc");
  dm2::test::orthanc_server orthanc(dir / "orthanc");
  if (auto why = orthanc.start(); !why.empty()) return std::fprintf(stderr, "Orthanc: %s\n", why.c_str()), 1;

  // The series, written and sent once; both pipelines fetch them from Orthanc.
  std::vector<series_info> series;
  std::uint64_t bytes = 0;
  for (unsigned s = 0; s < n_series; ++s) {
    auto out = dir / "series" / std::to_string(s);
    fs::create_directories(out);
    dm2::synth::phantom_options o;
    o.kind = s % 2 == 0 ? dm2::synth::study_kind::heart_mr : dm2::synth::study_kind::chest_ct;
    o.seed = 1 + s;
    o.slices = slices;
    o.size = size;
    auto written = dm2::synth::write_phantom_series(out, o);
    for (const auto& f : written.files) bytes += fs::file_size(f);
    if (auto why = orthanc.upload(written.files); !why.empty()) return std::fprintf(stderr, "upload: %s\n", why.c_str()), 1;
    series.push_back({written.study_uid, written.series_uid, written.files.size()});
    fs::remove_all(out);
  }
  const double mb = static_cast<double>(bytes) / 1e6;

  // Baseline: getscu -> gdcmanon -> tar | openssl enc, per series, two at a time; each stage
  // timed across all series (the stages run back to back, so their sum is end to end).
  fs::create_directories(dir / "tools");
  if (auto why = run_tool({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=dm2-bench", "-days",
                           "2", "-keyout", (dir / "tools" / "key.pem").string(), "-out",
                           (dir / "tools" / "cert.pem").string()},
                          dir / "tools", "openssl-req");
      !why.empty())
    return std::fprintf(stderr, "%s\n", why.c_str()), 1;
  std::vector<std::function<std::string()>> fetch, deid, seal;
  for (std::size_t s = 0; s < series.size(); ++s) {
    auto got = dir / "tools" / ("get" + std::to_string(s));
    auto anon = dir / "tools" / ("anon" + std::to_string(s));
    auto sealed = dir / "tools" / ("series" + std::to_string(s) + ".enc");
    const auto& info = series[s];
    fetch.push_back([&, got, info] {
      fs::create_directories(got);
      auto why = run_tool({"TCP_NODELAY=1", "/usr/bin/getscu", "-aet", dm2::test::test_our_ae, "-aec", orthanc.ae_title(),
                           "-od", got.string(), "-S", "-k", "QueryRetrieveLevel=SERIES", "-k",
                           "StudyInstanceUID=" + info.study_uid, "-k", "SeriesInstanceUID=" + info.series_uid,
                           "127.0.0.1", std::to_string(orthanc.port())},
                          got.parent_path(), "getscu");
      if (why.empty() && count_files(got) != info.files) why = "getscu fetched " + std::to_string(count_files(got)) + " files";
      return why;
    });
    deid.push_back([&, got, anon, info] {
      fs::create_directories(anon);
      auto why = run_tool({"/usr/bin/gdcmanon", "-e", "--certificate", (dir / "tools" / "cert.pem").string(), "-i",
                           got.string(), "-o", anon.string()},
                          anon.parent_path(), "gdcmanon");
      if (why.empty() && count_files(anon) != info.files) why = "gdcmanon wrote " + std::to_string(count_files(anon)) + " files";
      return why;
    });
    seal.push_back([&, anon, sealed] {
      // A fresh key and IV per series, as dm2 uses a fresh key per series.
      std::string key = dm2::crypto::to_hex(dm2::crypto::random_bytes(32));
      std::string iv = dm2::crypto::to_hex(dm2::crypto::random_bytes(16));
      std::string cmd = "tar -C '" + anon.string() + "' -cf - . | openssl enc -aes-256-ctr -K " + key + " -iv " + iv +
                        " -out '" + sealed.string() + "'";
      return run_tool({"/bin/sh", "-c", cmd}, anon.parent_path(), "openssl-enc");
    });
  }
  std::map<std::string, double> tool_stage;
  for (auto& [name, jobs] : {std::pair{"fetch (getscu, TCP_NODELAY=1)", &fetch}, {"de-identify (gdcmanon -e)", &deid},
                             {"encrypt (tar | openssl enc -aes-256-ctr)", &seal}}) {
    auto t0 = clock_type::now();
    if (auto why = run_parallel(*jobs, 2); !why.empty()) return std::fprintf(stderr, "baseline: %s\n", why.c_str()), 1;
    tool_stage[name] = seconds_since(t0);
  }
  double tools_total = 0;
  for (const auto& [name, s] : tool_stage) tools_total += s;

  // dm2: three dm2d; site 1 ingests the Orthanc on request.
  dm2::test::consortium_options co;
  co.sites = 3;
  co.address_octet = 91;
  auto settings = orthanc.settings();
  co.site_toml[1] = "[pacs]\nhost = \"127.0.0.1\"\nport = " + std::to_string(settings.port) + "\ncalled_ae_title = \"" +
                  settings.called_ae_title + "\"\ncalling_ae_title = \"" + settings.calling_ae_title +
                  "\"\nstore_port = 0\ningest_on_start = false\n";
  auto cons = dm2::test::process_consortium::create(dir / "consortium", co);
  if (!cons) return std::fprintf(stderr, "consortium: %s\n", cons.err().to_string().c_str()), 1;
  auto& c = **cons;
  if (auto s = c.start_all(); !s) return std::fprintf(stderr, "dm2d: %s\n", s.err().to_string().c_str()), 1;
  auto t0 = clock_type::now();
  auto started = c.request(1, "POST", "/v1/ingest", "{}", 1);
  if (!started || started->status / 100 != 2)
    return std::fprintf(stderr, "POST /v1/ingest: %s\n", started ? started->body.c_str() : started.err().to_string().c_str()), 1;
  auto report = dm2::bench::wait_for_ingest(c, 1, std::chrono::minutes(30));
  bool ingested = !report.empty();
  const double committed_s = seconds_since(t0);
  auto indexed = ingested ? report["last_run"]["counts"].value("series_indexed", 0u) : 0u;
  if (!ingested || indexed != n_series)
    return std::fprintf(stderr, "dm2 ingest did not index every series: %s\n", report.dump().c_str()), 1;
  bool replicated = dm2::test::eventually(
      [&] {
        for (int site : {2, 3}) {
          auto r = c.request(site, "GET", "/v1/overlay", {}, site);
          if (!r || r->status != 200) return false;
          auto o = json::parse(r->body, nullptr, false);
          if (!o.is_object() || o.value("records_held", 0u) < n_series) return false;
        }
        return true;
      },
      std::chrono::minutes(10));
  const double ours_total = seconds_since(t0);
  if (!replicated) return std::fprintf(stderr, "records did not reach sites 2 and 3\n"), 1;
  auto metrics = c.request(1, "GET", "/metrics", {}, 1);
  auto stages = metrics ? stage_sums(metrics->body) : std::map<std::string, double>{};

  std::printf("# %u series (heart MR and chest CT, %u slices of %ux%u), %.1f MB, Orthanc on 127.0.0.1, %u cores\n",
              n_series, slices, size, size, mb, std::thread::hardware_concurrency());
  std::printf("| pipeline                                         | seconds | series/s |  MB/s | ratio |\n");
  std::printf("|--------------------------------------------------|--------:|---------:|------:|------:|\n");
  auto row = [&](const char* name, double s) {
    std::printf("| %-48s | %7.2f | %8.2f | %5.1f | %4.2fx |\n", name, s, n_series / s, mb / s, tools_total / s);
  };
  row("dm2d ingest -> committed, replicated records", ours_total);
  row("dm2d ingest -> committed at site 1", committed_s);
  row("getscu + gdcmanon + openssl enc, 2 at a time", tools_total);
  std::printf("\n| stage (seconds)                                  |   total |\n");
  std::printf("|--------------------------------------------------|--------:|\n");
  for (const auto& [name, s] : stages) std::printf("| dm2 %-44s | %7.2f |\n", name.c_str(), s);
  for (const auto& [name, s] : tool_stage) std::printf("| %-48s | %7.2f |\n", name.c_str(), s);
  std::printf("(dm2's stage times are summed over its workers, so they can exceed the wall time)\n");
  const double ratio = tools_total / ours_total;
  std::printf("\ngoal: dm2 end to end >= 3x the standard tools: %.2fx %s\n", ratio, ratio >= 3 ? "MET" : "NOT MET");
  return 0;
}
