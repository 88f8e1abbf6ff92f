// `dm2 series get LFN --session FILE`: a de-identified series through the user's home node
// (GET /v1/series/{lfn}, docs/api.md), as the user `dm2 sign-in` kept in FILE: receives the answer
// as it streams, writes each DICOM instance to OUT/000000.dcm, 000001.dcm, ... as its part arrives (or
// the NIfTI volume to OUT with --format nifti). A progress bar on stderr (a
// terminal only) follows the bytes against the Content-Length the node announces.
// `dm2 series list` (GET /v1/me/series: a physician's care-team series, a patient's own) and
// `dm2 series nominative LFN` (GET /v1/nominative/{lfn}: the patient and his care team only) show
// the same user what the API shows him; the node decides and audits, the CLI only asks.
#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>

#include "cli_common.hpp"

namespace dm2::cli {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

struct series_options : user_connection_options {
  std::string lfn, format = "dicom", out;
  bool json_out = false;
};

// Splits a multipart/related body, fed in any pieces, into one file per part (each part's
// Content-Length bytes), numbered in order.
class multipart_splitter {
 public:
  multipart_splitter(fs::path dir, std::string boundary) : dir_(std::move(dir)), delimiter_("--" + std::move(boundary)) {}

  status feed(std::string_view in) {
    while (!in.empty()) {
      if (left_ > 0) {
        auto take = std::min<std::uint64_t>(left_, in.size());
        file_.write(in.data(), static_cast<std::streamsize>(take));
        if (!file_) return fail(errc::io_error, "cannot write " + path_.string());
        in.remove_prefix(take);
        if ((left_ -= take) == 0) {
          file_.close();
          ++parts_;
        }
        continue;
      }
      head_.append(in);
      in = {};
      auto end = head_.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (head_.size() > 4096) return fail(errc::malformed_input, "a part header that never ends");
        return {};
      }
      auto at = head_.find(delimiter_);
      auto length = head_.find("Content-Length: ", at);
      std::uint64_t size = 0;
      if (at == std::string::npos || length == std::string::npos || length > end ||
          std::from_chars(head_.data() + length + 16, head_.data() + end, size).ec != std::errc{})
        return fail(errc::malformed_input, "a part without its Content-Length");
      std::string rest = head_.substr(end + 4);
      head_.clear();
      char name[32];
      std::snprintf(name, sizeof name, "%06zu.dcm", parts_);
      path_ = dir_ / name;
      file_.open(path_, std::ios::binary | std::ios::trunc);
      if (!file_) return fail(errc::io_error, "cannot create " + path_.string());
      left_ = size;
      if (size == 0) {
        file_.close();
        ++parts_;
      }
      if (auto s = feed(rest); !s) return s;
    }
    return {};
  }
  std::size_t parts() const { return parts_; }

 private:
  fs::path dir_, path_;
  std::string delimiter_, head_;
  std::ofstream file_;
  std::uint64_t left_ = 0;
  std::size_t parts_ = 0;
};

std::string boundary_of(const std::string& content_type) {
  auto at = content_type.find("boundary=");
  if (content_type.rfind("multipart/related", 0) != 0 || at == std::string::npos)
    throw command_failed(exit_remote, "the node answered " + content_type + ", not multipart/related");
  return content_type.substr(at + 9);
}

std::string header(const node::client_response& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

void get_series(const series_options& o) {
  auto site = connect_as_user_or_site(o);
  node::https_connection connection(site.target, site.tls);
  fs::path out = o.out.empty() ? fs::path(o.lfn + (o.format == "nifti" ? ".nii" : "")) : fs::path(o.out);
  progress_bar bar;
  std::uint64_t total = 0, received = 0;
  std::string error_body;
  std::optional<multipart_splitter> parts;
  std::ofstream volume;
  auto got = connection.request_streamed(
      "GET", "/v1/series/" + o.lfn + "?format=" + o.format,
      [&](const node::client_response& head, std::string_view piece) -> status {
        if (head.status != 200) {
          error_body.append(piece.substr(0, 64 * 1024 - std::min<std::size_t>(error_body.size(), 64 * 1024)));
          return {};
        }
        if (received == 0) {
          auto length = header(head, "content-length");
          std::from_chars(length.data(), length.data() + length.size(), total);
          // Made once the node said yes: a refusal leaves nothing behind.
          std::error_code ec;
          if (o.format == "dicom" && (fs::create_directories(out, ec), ec))
            return fail(errc::io_error, "cannot create " + out.string() + ": " + ec.message());
          if (o.format == "dicom") parts.emplace(out, boundary_of(header(head, "content-type")));
          else volume.open(out, std::ios::binary | std::ios::trunc);
        }
        received += piece.size();
        if (!o.json_out) bar.draw(received / 1'000'000, total / 1'000'000, received);
        if (parts) return parts->feed(piece);
        if (!volume.write(piece.data(), static_cast<std::streamsize>(piece.size())))
          return fail(errc::io_error, "cannot write " + out.string());
        return {};
      },
      std::chrono::seconds(60), site.headers);
  bar.finish();
  if (!got) throw command_failed(got.err().code == errc::io_error ? exit_local_state : exit_remote, got.err().message);
  if (got->status != 200) {
    auto j = json::parse(error_body, nullptr, false);
    auto why = j.is_object() && j["error"].is_object() ? j["error"].value("message", error_body) : error_body;
    throw command_failed(got->status == 400 ? exit_usage : exit_remote,
                         "node answered " + std::to_string(got->status) + ": " + why);
  }
  json summary = {{"lfn", o.lfn},
                  {"version", header(*got, "dm2-series-version")},
                  {"bytes", received},
                  {"path", out.string()}};
  if (parts) summary["instances"] = parts->parts();
  if (o.json_out) std::cout << summary.dump(2) << '\n';
  else if (parts) std::printf("%zu instances, %llu bytes in %s\n", parts->parts(), static_cast<unsigned long long>(received), out.c_str());
  else std::printf("volume, %llu bytes in %s\n", static_cast<unsigned long long>(received), out.c_str());
}

void list_series(const series_options& o) {
  auto all = call_node(connect_as_user_or_site(o), "GET", "/v1/me/series", {}, 200);
  if (o.json_out) {
    std::cout << all.dump(2) << '\n';
    return;
  }
  std::printf("%-32s %-8s %-8s %-12s %s\n", "lfn", "version", "modality", "body part", "patient ref");
  for (const auto& s : all.value("series", json::array())) {
    auto a = s.value("attributes", json::object());
    std::printf("%-32s %-8lld %-8s %-12s %s\n", s.value("lfn", "").c_str(), static_cast<long long>(s.value("version", 0LL)),
                a.value("modality", "").c_str(), a.value("body_part", "").c_str(), s.value("patient_ref", "").c_str());
  }
}

// The answer names the patient: printed for the user who asked, never kept or logged here.
void show_nominative(const series_options& o) {
  auto record = call_node(connect_as_user_or_site(o), "GET", "/v1/nominative/" + o.lfn, {}, 200);
  if (o.json_out) {
    std::cout << record.dump(2) << '\n';
    return;
  }
  for (const char* field : {"lfn", "patient_name", "patient_id", "accession_number", "study_uid", "series_uid"})
    std::printf("%-17s %s\n", field, record.value(field, "").c_str());
}

void add_series_command(CLI::App& dm2) {
  auto o = std::make_shared<series_options>();
  auto* series = dm2.add_subcommand("series", "Series a signed-in user of this site may see: list, retrieve, name (care team)");
  series->require_subcommand(1);
  auto* get = series->add_subcommand(
      "get", "Retrieve a series you may read (as the user of --session); progress on stderr");
  get->add_option("lfn", o->lfn, "The series' LFN (32 hex digits)")->required();
  get->add_option("--format", o->format, "dicom (one .dcm file per instance) or nifti (the volume)")
      ->capture_default_str()
      ->check(CLI::IsMember({"dicom", "nifti"}));
  get->add_option("-o,--out", o->out, "Directory for dicom (default: the LFN), file for nifti (default: LFN.nii)");
  add_user_connection_options(get, *o);
  get->add_flag("--json", o->json_out, "Print a JSON summary (no progress bar)");
  get->callback([o] { get_series(*o); });

  auto* list = series->add_subcommand(
      "list", "The series you may pick (a physician: his care teams' patients'; a patient: his own)");
  add_user_connection_options(list, *o);
  list->add_flag("--json", o->json_out, "Print the node's JSON answer");
  list->callback([o] { list_series(*o); });

  auto* nominative = series->add_subcommand(
      "nominative", "Who the patient of a series is (the patient himself and his care team, at the owning site)");
  nominative->add_option("lfn", o->lfn, "The series' LFN (32 hex digits)")->required();
  add_user_connection_options(nominative, *o);
  nominative->add_flag("--json", o->json_out, "Print the node's JSON answer");
  nominative->callback([o] { show_nominative(*o); });
}

const registrar series_command("series", &add_series_command);

}  // namespace
}  // namespace dm2::cli
