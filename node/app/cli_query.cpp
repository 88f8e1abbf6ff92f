// `dm2 query`: a similarity query across the consortium from the local node (POST /v1/queries,
// then GET /v1/queries/{id} until done), with a progress bar of sites answered / asked on stderr
// and the ranked hits on stdout (a table, or the node's JSON with --json). The query's signature
// comes from a file or, with --lfn, from one of this site's own records; with --by-series the node
// opens one of its own series (signature and query volume) and the candidates' owners rescore the
// best ones with --measure (stage 2); --by-volume and --by-dicom upload a NIfTI file or a DICOM
// series instead. Asked with the site's own certificate: the query routes are
// for consortium sites.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "cli_common.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/private_file.hpp"

namespace dm2::cli {
namespace {

using json = nlohmann::json;

struct query_options : site_connection_options {
  std::string modality, body_part, manufacturer, sex, age_band, diagnosis_code;
  std::string study_from, study_to, series_from, series_to;
  std::string signature_file;
  std::string lfn;
  std::string by_series;
  std::string by_volume;
  std::string by_dicom;  // a folder of one series' DICOM files
  std::string measure = "ncc";
  std::string measure_version;
  int stage2_depth = -1;  // -1: the node's default
  std::size_t top_k = 20;
  double timeout_s = 5;
  std::string user, purpose;
  bool json_out = false;
};

json request_body(const query_options& o) {
  json filters = json::object();
  for (const auto& [key, value] : {std::pair{"modality", &o.modality}, {"body_part", &o.body_part},
                                   {"manufacturer", &o.manufacturer}, {"sex", &o.sex}, {"age_band", &o.age_band},
                                   {"diagnosis_code", &o.diagnosis_code}})
    if (!value->empty()) filters[key] = *value;
  auto range = [&](const char* key, const std::string& from, const std::string& to) {
    if (from.empty() && to.empty()) return;
    json r = json::object();
    if (!from.empty()) r["from"] = from;
    if (!to.empty()) r["to"] = to;
    filters[key] = r;
  };
  range("study_date", o.study_from, o.study_to);
  range("series_date", o.series_from, o.series_to);
  json body = {{"filters", filters}, {"measure", o.measure}, {"top_k", o.top_k},
               {"timeout_ms", static_cast<std::int64_t>(o.timeout_s * 1000)}};
  if (!o.signature_file.empty()) {
    auto raw = crypto::read_file(o.signature_file);
    if (!raw) throw command_failed(exit_bad_input, "--signature-file: " + raw.err().message);
    body["signature"] = crypto::to_base64(*raw);
  }
  if (!o.lfn.empty()) body["lfn"] = o.lfn;  // the node takes that record's signature
  if (!o.by_series.empty()) body["by_series"] = o.by_series;  // the node opens that series' volume
  if (!o.by_volume.empty()) {
    auto raw = crypto::read_file(o.by_volume);
    if (!raw) throw command_failed(exit_bad_input, "--by-volume: " + raw.err().message);
    body["nifti"] = crypto::to_base64(*raw);  // read in memory at the node, never stored
  }
  if (!o.by_dicom.empty()) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(o.by_dicom))
      if (entry.is_regular_file()) files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    json instances = json::array();
    for (const auto& f : files) {
      auto raw = crypto::read_file(f.string());
      if (!raw) throw command_failed(exit_bad_input, "--by-dicom: " + raw.err().message);
      instances.push_back(crypto::to_base64(*raw));  // assembled at the node, removed at once
    }
    if (instances.empty()) throw command_failed(exit_bad_input, "--by-dicom: no files in " + o.by_dicom);
    body["dicom"] = std::move(instances);
  }
  if (!o.measure_version.empty()) body["measure_version"] = o.measure_version;
  if (o.stage2_depth >= 0) body["stage2_depth"] = o.stage2_depth;
  if (!o.user.empty()) body["user"] = o.user;
  if (!o.purpose.empty()) body["purpose"] = o.purpose;
  return body;
}

// "mi/1 at stage 2", "ncc/1 at stage 1", and why stage 2 missed a candidate.
std::string scored_by(const json& h) {
  auto a = h.value("algorithm", json::object());
  std::string out = a.value("name", "") + "/" + a.value("version", "") + " s" + std::to_string(h.value("stage", 1));
  if (h.contains("stage2_missing")) out += " (stage 2: " + h.value("stage2_missing", "") + ")";
  if (h.value("reused", false)) out += " cached";
  return out;
}

// "I21.4,I50" (a diagnosis recorded as text only shows as "text"), or "-".
std::string diagnosis_codes(const json& h) {
  std::string out;
  for (const auto& d : h.value("diagnoses", json::array()))
    out += (out.empty() ? "" : ",") + (d["code"].is_string() ? d["code"].get<std::string>() : std::string("text"));
  return out.empty() ? "-" : out;
}

void print_table(const json& view) {
  std::printf("%-4s %-8s %-32s %-12s %-8s %-12s %-10s %-18s %-10s %s\n", "rank", "score", "lfn", "owner", "modality",
              "body_part", "study", "scored by", "diagnoses", "provenance (dm2 provenance ID)");
  int rank = 0;
  for (const auto& h : view["hits"]) {
    auto a = h.value("attributes", json::object());
    std::string score = h["score"].is_number() ? std::to_string(h["score"].get<double>()).substr(0, 7) : "-";
    std::printf("%-4d %-8s %-32s %-12s %-8s %-12s %-10s %-18s %-10s %s\n", ++rank, score.c_str(), h.value("lfn", "").c_str(),
                h.value("owner", "").c_str(), a.value("modality", "").c_str(), a.value("body_part", "").c_str(),
                a.value("study_date", "").c_str(), scored_by(h).c_str(), diagnosis_codes(h).c_str(),
                h.value("provenance", "-").c_str());
  }
}

void run_query(const query_options& o) {
  auto site = connect_as_site(o);
  const auto& target = site.target;
  const auto& tls = site.tls;
  auto started = call_node(target, tls, "POST", "/v1/queries", request_body(o).dump(), 202);
  auto location = started.value("location", "");
  if (location.rfind("/v1/queries/", 0) != 0) throw command_failed(exit_remote, "node answered without a location");
  progress_bar bar;
  json view;
  // The node ends the query at its deadline: poll a little past it before giving up on it.
  auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout_s * 1000)) +
                 std::chrono::seconds(10);
  while (true) {
    view = call_node(target, tls, "GET", location, {}, 200);
    if (!o.json_out) bar.draw(view.value("answered", 0u), view.value("asked", 0u));
    if (view.value("done", false)) break;
    if (std::chrono::steady_clock::now() > give_up) {
      if (!o.json_out) bar.finish();
      throw command_failed(exit_remote, "the node did not finish the query");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (o.json_out) {
    std::cout << view.dump(2) << '\n';
    return;
  }
  bar.finish();
  if (view.value("deadline_passed", false))
    std::cerr << "deadline passed: " << view.value("answered", 0) << " of " << view.value("asked", 0)
              << " sites answered; results are partial\n";
  if (auto two = view.value("stage2", json()); two.is_object()) {
    std::cerr << "stage 2 (" << two["algorithm"].value("name", "") << "/" << two["algorithm"].value("version", "")
              << "): " << two.value("candidates", 0) << " candidates, " << two["answered"].size() << " of "
              << two["asked"].size() << " owners answered";
    if (!two["failed"].empty()) std::cerr << "; no answer from " << two["failed"].dump() << " (stage-1 scores kept)";
    std::cerr << '\n';
  }
  print_table(view);
}

void add_query_command(CLI::App& dm2) {
  auto o = std::make_shared<query_options>();
  auto* q = dm2.add_subcommand("query", "Similarity query across the consortium, from the local node");
  add_site_connection_options(q, *o);
  q->add_option("--modality", o->modality, "Filter: modality (CT, MR...)");
  q->add_option("--body-part", o->body_part, "Filter: body part examined");
  q->add_option("--manufacturer", o->manufacturer, "Filter: manufacturer");
  q->add_option("--sex", o->sex, "Filter: M, F or O");
  q->add_option("--age-band", o->age_band, "Filter: age band (e.g. 040-049)");
  q->add_option("--diagnosis-code", o->diagnosis_code,
                "Filter: a recorded diagnosis' ICD-10 code (I21.4) or category (I21: every code under it)");
  q->add_option("--study-from", o->study_from, "Filter: study date from (YYYYMMDD)");
  q->add_option("--study-to", o->study_to, "Filter: study date to (YYYYMMDD)");
  q->add_option("--series-from", o->series_from, "Filter: series date from (YYYYMMDD)");
  q->add_option("--series-to", o->series_to, "Filter: series date to (YYYYMMDD)");
  q->add_option("--signature-file", o->signature_file,
                "The query's similarity signature: raw little-endian float32 samples on the index's grid")
      ->check(CLI::ExistingFile);
  q->add_option("--lfn", o->lfn, "Query by one of this site's own series: its LFN (the node takes its signature)")
      ->excludes("--signature-file");
  q->add_option("--by-series", o->by_series,
                "Query by image: one of this site's own series (its LFN); the node opens its volume, and the "
                "candidates' owners rescore the best ones with --measure")
      ->excludes("--signature-file")
      ->excludes("--lfn");
  q->add_option("--by-volume", o->by_volume,
                "Query by image: a NIfTI-1 file (.nii, at most 8 MiB) sent to the node, which reads it in memory "
                "and stores nothing")
      ->check(CLI::ExistingFile)
      ->excludes("--signature-file")
      ->excludes("--lfn")
      ->excludes("--by-series");
  q->add_option("--by-dicom", o->by_dicom,
                "Query by image: a folder holding one DICOM series (at most 1,024 files, 8 MiB), sent to the node, "
                "which assembles it in a private scratch folder removed at once and stores nothing")
      ->check(CLI::ExistingDirectory)
      ->excludes("--signature-file")
      ->excludes("--lfn")
      ->excludes("--by-series")
      ->excludes("--by-volume");
  q->add_option("--measure", o->measure,
                "Stage-2 measure with --by-series, --by-volume or --by-dicom: ncc, mi or cr (GET /v1/algorithms)")
      ->capture_default_str();
  q->add_option("--measure-version", o->measure_version, "The measure's version (default: the newest)");
  q->add_option("--stage2-depth", o->stage2_depth, "With an image: how many stage-1 candidates stage 2 rescores "
                                                   "(0..100, default 10)")
      ->check(CLI::Range(0, 100));
  q->add_option("--top-k", o->top_k, "Best hits to return (1..1000)")->capture_default_str()->check(CLI::Range(1, 1000));
  q->add_option("--timeout", o->timeout_s, "Seconds to wait for sites to answer (max 60)")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 60.0));
  q->add_option("--user", o->user, "Who asks (free text, carried to the sites, never logged)");
  q->add_option("--purpose", o->purpose, "Why (free text, carried to the sites, never logged)");
  q->add_flag("--json", o->json_out, "Print the node's final JSON (no progress bar)");
  q->callback([o] { run_query(*o); });
}

const registrar query_command("query", &add_query_command);

}  // namespace
}  // namespace dm2::cli
