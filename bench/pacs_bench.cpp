// PACS benchmarks, same-run ratios, medians of N runs (bench/pacs_bench.sh prints the table):
//  1. a 200-slice 512x512 CT series (~100 MB) from a local Orthanc: dm2's parallel C-GET
//     (4 associations) vs DCMTK's getscu (one association; as shipped and with TCP_NODELAY=1)
//     vs movescu, and dm2's own C-MOVE;
//  2. de-identification (Basic profile) + AES-256-GCM of the 200 files, in-process, vs
//     `gdcmanon -e --certificate` on the same files.
// Usage: pacs_bench [runs=3] [slices=200]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "dm2/crypto/aead.hpp"
#include "dm2/pacs/deidentify.hpp"
#include "dm2/pacs/dicom_client.hpp"
#include "dm2/pacs/parallel_fetch.hpp"
#include "bench_support.hpp"
#include "pacs_server_fixture.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"
#include "synthetic_series.hpp"

namespace fs = std::filesystem;
using dm2::bench::clock_type;
using dm2::bench::count_files;
using dm2::bench::median;
using dm2::bench::seconds_since;

namespace {

// Runs a tool; returns seconds, or a negative number on failure.
double run_tool(const std::vector<std::string>& args, const fs::path& log_dir, const std::string& name) {
  auto t0 = clock_type::now();
  dm2::test::child_process p("/usr/bin/env", args, log_dir, name);
  auto rc = p.wait(std::chrono::seconds(600));
  double s = seconds_since(t0);
  if (!rc || *rc != 0) {
    std::fprintf(stderr, "%s failed: %s\n", name.c_str(), p.stderr_text().c_str());
    return -1;
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 3;
  const unsigned slices = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 200;
  // Orthanc cannot be bound to loopback: everything (Orthanc, getscu/movescu, our C-STORE SCP)
  // runs in a private network namespace with only lo, entered before any thread or child.
  if (auto why = dm2::test::confine_to_private_network(); !why.empty()) {
    std::fprintf(stderr, "pacs_bench needs a private network namespace (run as root): %s\n",
                 why.c_str());
    return 1;
  }
  dm2::test::temp_dir dir("dm2-pacs-bench");
  fs::create_directories(dir / "orthanc");
  fs::create_directories(dir / "series");
  dm2::test::orthanc_server orthanc(dir / "orthanc");
  if (auto why = orthanc.start(); !why.empty()) {
    std::fprintf(stderr, "Orthanc: %s\n", why.c_str());
    return 1;
  }
  dm2::test::synthetic_options o;
  o.slices = slices;
  o.rows = o.columns = 512;
  auto series = dm2::test::write_synthetic_series(dir / "series", o);
  if (auto why = orthanc.upload(series.files); !why.empty()) {
    std::fprintf(stderr, "upload: %s\n", why.c_str());
    return 1;
  }
  std::uint64_t bytes = 0;
  for (const auto& f : series.files) bytes += fs::file_size(f);
  const auto settings = orthanc.settings();
  const std::string port = std::to_string(orthanc.port());
  const std::vector<std::string> keys = {"-S", "-k", "QueryRetrieveLevel=SERIES", "-k",
                                         "StudyInstanceUID=" + series.study_uid, "-k",
                                         "SeriesInstanceUID=" + series.series_uid};

  std::vector<double> ours, ours1, ours_move, getscu, getscu_nodelay, movescu;
  for (int run = 0; run < runs; ++run) {
    auto out = dir / ("run" + std::to_string(run));
    auto fresh = [&](const std::string& name) {
      auto d = out / name;
      fs::create_directories(d);
      return d;
    };
    {
      auto d = fresh("ours");
      auto t0 = clock_type::now();
      auto r = dm2::pacs::fetch_series(settings, series.study_uid, series.series_uid, d);
      if (!r || r->files.size() != slices) return std::fprintf(stderr, "dm2 fetch failed\n"), 1;
      ours.push_back(seconds_since(t0));
    }
    {
      auto d = fresh("ours1");
      dm2::pacs::fetch_options fo;
      fo.associations = 1;
      auto t0 = clock_type::now();
      auto r = dm2::pacs::fetch_series(settings, series.study_uid, series.series_uid, d, fo);
      if (!r || r->files.size() != slices) return std::fprintf(stderr, "dm2 fetch(1) failed\n"), 1;
      ours1.push_back(seconds_since(t0));
    }
    {
      auto d = fresh("ours_move");
      dm2::pacs::dicom_client c(settings);
      auto t0 = clock_type::now();
      auto r = c.move({dm2::pacs::query_level::series,
                       {{"StudyInstanceUID", series.study_uid}, {"SeriesInstanceUID", series.series_uid}}},
                      d);
      if (!r || r->files.size() != slices) return std::fprintf(stderr, "dm2 move failed\n"), 1;
      ours_move.push_back(seconds_since(t0));
    }
    // DCMTK's tools as shipped (Nagle on, the dcmnet default) and with TCP_NODELAY=1.
    for (bool nodelay : {false, true}) {
      auto d = fresh(nodelay ? "getscu_nd" : "getscu");
      // env -u TCP_NODELAY getscu ... | env TCP_NODELAY=1 getscu ...
      std::vector<std::string> args = nodelay ? std::vector<std::string>{"TCP_NODELAY=1"}
                                              : std::vector<std::string>{"-u", "TCP_NODELAY"};
      for (const std::string a : {"/usr/bin/getscu", "-aet", dm2::test::test_our_ae, "-aec", "ORTHANC", "-od"})
        args.push_back(a);
      args.push_back(d.string());
      args.insert(args.end(), keys.begin(), keys.end());
      args.push_back("127.0.0.1");
      args.push_back(port);
      double s = run_tool(args, out, "getscu");
      if (s < 0 || count_files(d) != slices) return std::fprintf(stderr, "getscu failed\n"), 1;
      (nodelay ? getscu_nodelay : getscu).push_back(s);
    }
    {
      auto d = fresh("movescu");
      std::vector<std::string> args = {"-u", "TCP_NODELAY", "/usr/bin/movescu", "-aet", dm2::test::test_our_ae,
                                       "-aem", dm2::test::test_our_ae, "-aec", "ORTHANC", "--port",
                                       std::to_string(orthanc.store_port()), "-od", d.string()};
      args.insert(args.end(), keys.begin(), keys.end());
      args.push_back("127.0.0.1");
      args.push_back(port);
      double s = run_tool(args, out, "movescu");
      if (s < 0 || count_files(d) != slices) return std::fprintf(stderr, "movescu failed\n"), 1;
      movescu.push_back(s);
    }
    fs::remove_all(out);
  }

  // De-identification + AES-256-GCM vs gdcmanon -e --certificate.
  const std::string key = dm2::crypto::generate_aead_key();
  dm2::pacs::deid_options deid;
  deid.uid_secret = "benchmark-consortium-secret-000";
  std::vector<double> ours_deid, gdcm;
  fs::create_directories(dir / "gdcm");
  if (std::system(("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=dm2-bench -days 2 -keyout " +
                   (dir / "gdcm" / "key.pem").string() + " -out " + (dir / "gdcm" / "cert.pem").string() +
                   " >/dev/null 2>&1")
                      .c_str()) != 0)
    return std::fprintf(stderr, "openssl req failed\n"), 1;
  std::uint64_t sealed_bytes = 0;
  for (int run = 0; run < runs; ++run) {
    auto t0 = clock_type::now();
    sealed_bytes = 0;
    std::string bytes_out;
    for (const auto& f : series.files) {
      auto r = dm2::pacs::deidentify_to_memory(f, deid, bytes_out);
      if (!r) return std::fprintf(stderr, "deidentify failed: %s\n", r.err().to_string().c_str()), 1;
      auto sealed = dm2::crypto::aead_seal(key, bytes_out, r->sop_instance_uid);
      auto sealed_record = dm2::crypto::aead_seal(key, r->nominative_json, r->sop_instance_uid + "/nominative");
      if (!sealed || !sealed_record) return std::fprintf(stderr, "seal failed\n"), 1;
      sealed_bytes += sealed->size() + sealed_record->size();
    }
    ours_deid.push_back(seconds_since(t0));
    auto gout = dir / "gdcm" / ("out" + std::to_string(run));
    fs::create_directories(gout);
    double s = run_tool({"/usr/bin/gdcmanon", "-e", "--certificate", (dir / "gdcm" / "cert.pem").string(), "-i",
                         (dir / "series").string(), "-o", gout.string()},
                        dir / "gdcm", "gdcmanon");
    if (s < 0 || count_files(gout) != slices) return std::fprintf(stderr, "gdcmanon failed\n"), 1;
    gdcm.push_back(s);
    fs::remove_all(gout);
  }

  const double mb = bytes / 1e6;
  std::printf("# %u slices of 512x512x16-bit, %.1f MB, Orthanc on 127.0.0.1, medians of %d runs\n", slices, mb, runs);
  std::printf("| retrieval                                  | median s | MB/s  | vs getscu |\n");
  std::printf("|--------------------------------------------|---------:|------:|----------:|\n");
  auto row = [&](const char* name, const std::vector<double>& v) {
    double m = median(v);
    std::printf("| %-42s | %8.3f | %5.1f | %8.2fx |\n", name, m, mb / m, median(getscu) / m);
  };
  row("dm2 parallel C-GET, 4 associations", ours);
  row("dm2 C-GET, 1 association", ours1);
  row("dm2 C-MOVE to in-process SCP", ours_move);
  row("getscu (DCMTK 3.6.7, as shipped)", getscu);
  row("getscu with TCP_NODELAY=1", getscu_nodelay);
  row("movescu (DCMTK 3.6.7, as shipped)", movescu);
  std::printf("\n| de-identification + encryption, %u files    | median s | files/s | ratio |\n", slices);
  std::printf("|--------------------------------------------|---------:|--------:|------:|\n");
  std::printf("| dm2 Basic profile + AES-256-GCM, in-process | %8.3f | %7.0f | %5.2fx |\n", median(ours_deid),
              slices / median(ours_deid), median(gdcm) / median(ours_deid));
  std::printf("| gdcmanon -e --certificate (GDCM 3.0.21)     | %8.3f | %7.0f | 1.00x |\n", median(gdcm),
              slices / median(gdcm));
  std::printf("(sealed output: %.1f MB)\n", sealed_bytes / 1e6);
  return 0;
}
