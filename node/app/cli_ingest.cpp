// `dm2 ingest run` and `dm2 ingest status`: the local node's PACS ingest (POST and GET
// /v1/ingest, this site's own certificate). `run` starts a run (or follows the one under way
// with --follow) and, on a terminal, redraws one bar for the run and one per series under way
// on stderr; the summary goes to stdout (the node's JSON with --json).
// Exit codes: 0 every series ingested or unchanged; 5 the run failed (PACS unreachable...) or a
// series failed (listed with its LFN, stage and reason); as cli_registry.hpp otherwise.
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <thread>

#include "cli_common.hpp"

namespace dm2::cli {
namespace {

using json = nlohmann::json;

struct ingest_options : site_connection_options {
  bool json_out = false;
  bool follow = false;  // run: follow the run under way instead of failing with 409
  double timeout_s = 3600;
  std::string rescan_since;  // run: a re-scan from this study date (YYYYMMDD)
};

json get_json(const site_connection& site, const std::string& method, const std::string& body, int& status) {
  auto r = node::https_request(site.target, site.tls, method, "/v1/ingest", body);
  if (!r) throw command_failed(exit_remote, r.err().message);
  status = r->status;
  auto j = json::parse(r->body, nullptr, false);
  if (!j.is_object()) throw command_failed(exit_remote, "node answered " + std::to_string(r->status) + " without JSON");
  return j;
}

std::string message_of(const json& j) {
  return j.contains("error") && j["error"].is_object() ? j["error"].value("message", "") : j.dump();
}

std::string bar(std::size_t done, std::size_t total, int width = 24) {
  int filled = total == 0 ? 0 : static_cast<int>(width * std::min(done, total) / total);
  return "[" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
}

// Redraws the run's block of lines in place (terminal only).
class run_view {
 public:
  void draw(const json& run) {
    clear();
    auto counts = run.value("counts", json::object());
    std::size_t seen = counts.value("series_seen", 0u);
    std::size_t done = counts.value("series_indexed", 0u) + counts.value("series_unchanged", 0u) +
                       counts.value("series_failed", 0u);
    std::fprintf(stderr, "run %s %s %zu/%zu series, %.1f MB fetched, %zu failed\n", run.value("id", "").c_str(),
                 bar(done, seen).c_str(), done, seen, counts.value("bytes_fetched", 0.0) / 1e6,
                 static_cast<std::size_t>(counts.value("series_failed", 0u)));
    lines_ = 1;
    for (const auto& s : run.value("series", json::array())) {
      std::size_t d = s.value("instances_done", 0u), t = s.value("instances_total", 0u);
      std::fprintf(stderr, "  %s %-10s %s %zu/%zu %.1f MB\n", s.value("lfn", "").c_str(), s.value("stage", "").c_str(),
                   bar(d, t, 16).c_str(), d, t, s.value("bytes", 0.0) / 1e6);
      ++lines_;
    }
    std::fflush(stderr);
  }
  void clear() {
    for (int i = 0; i < lines_; ++i) std::fprintf(stderr, "\x1b[1A\x1b[2K");
    lines_ = 0;
  }

 private:
  int lines_ = 0;
};

void print_run(const json& run) {
  auto counts = run.value("counts", json::object());
  std::cout << "run " << run.value("id", "") << " (" << run.value("trigger", "") << "): " << run.value("state", "") << '\n'
            << "  series seen " << counts.value("series_seen", 0) << ", indexed " << counts.value("series_indexed", 0)
            << ", unchanged " << counts.value("series_unchanged", 0) << ", failed " << counts.value("series_failed", 0)
            << '\n'
            << "  bytes fetched " << counts.value("bytes_fetched", 0) << ", sealed " << counts.value("bytes_stored", 0)
            << '\n';
  if (run.contains("error")) std::cout << "  error: " << run.value("error", "") << '\n';
  for (const auto& f : run.value("failures", json::array()))
    std::cout << "  failed " << (f.value("lfn", "").empty() ? "-" : f.value("lfn", "")) << " at " << f.value("stage", "")
              << ": " << f.value("reason", "") << '\n';
}

int exit_for_run(const json& run) {
  if (run.value("state", "") != "done") return exit_remote;
  return run.value("counts", json::object()).value("series_failed", 0) > 0 ? exit_remote : exit_ok;
}

void run_ingest(const ingest_options& o) {
  auto site = connect_as_site(o);
  int status = 0;
  auto started =
      get_json(site, "POST", o.rescan_since.empty() ? "" : json{{"rescan_since", o.rescan_since}}.dump(), status);
  std::string id;
  if (status == 202) {
    id = started.value("id", "");
  } else if (status == 409 && o.follow) {
    auto now = get_json(site, "GET", "", status);
    if (now["current_run"].is_object()) id = now["current_run"].value("id", "");
  } else {
    throw command_failed(exit_remote, "node answered " + std::to_string(status) + ": " + message_of(started));
  }
  const bool terminal = !o.json_out && ::isatty(STDERR_FILENO);
  run_view view;
  auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(o.timeout_s * 1000));
  while (true) {
    auto report = get_json(site, "GET", "", status);
    if (status != 200) throw command_failed(exit_remote, "node answered " + std::to_string(status) + ": " + message_of(report));
    const json& current = report["current_run"];
    const json& last = report["last_run"];
    if (current.is_object() && current.value("id", "") == id) {
      if (terminal) view.draw(current);
    } else if (last.is_object() && last.value("id", "") == id) {
      if (terminal) view.clear();
      if (o.json_out) std::cout << last.dump(2) << '\n';
      else print_run(last);
      int code = exit_for_run(last);
      if (code != exit_ok) throw command_failed(code, "the ingest run did not complete cleanly");
      return;
    } else if (!id.empty()) {
      throw command_failed(exit_remote, "the node no longer knows run " + id + " (restarted?)");
    }
    if (std::chrono::steady_clock::now() > give_up) throw command_failed(exit_remote, "gave up waiting for the run");
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

void show_status(const ingest_options& o) {
  auto site = connect_as_site(o);
  int status = 0;
  auto report = get_json(site, "GET", "", status);
  if (status != 200) throw command_failed(exit_remote, "node answered " + std::to_string(status) + ": " + message_of(report));
  if (o.json_out) {
    std::cout << report.dump(2) << '\n';
    return;
  }
  auto totals = report.value("totals", json::object());
  std::cout << "pacs configured:  " << (report.value("pacs_configured", false) ? "yes" : "no") << '\n'
            << "sync period:      " << report.value("sync_period_s", 0) << " s (0 = off)\n"
            << "since start:      seen " << totals.value("series_seen", 0) << ", fetched "
            << totals.value("series_fetched", 0) << ", indexed " << totals.value("series_indexed", 0) << ", unchanged "
            << totals.value("series_unchanged", 0) << ", failed " << totals.value("series_failed", 0) << ", "
            << totals.value("bytes_fetched", 0) << " bytes fetched\n";
  if (report["current_run"].is_object()) {
    std::cout << "current ";
    print_run(report["current_run"]);
    for (const auto& s : report["current_run"].value("series", json::array()))
      std::cout << "  " << s.value("lfn", "") << " " << s.value("stage", "") << " " << s.value("instances_done", 0) << "/"
                << s.value("instances_total", 0) << '\n';
  }
  if (report["last_run"].is_object()) {
    std::cout << "last ";
    print_run(report["last_run"]);
  }
}

void add_ingest_commands(CLI::App& dm2) {
  auto* ingest = dm2.add_subcommand("ingest", "The local node's PACS ingest");
  ingest->require_subcommand(1);
  auto run = std::make_shared<ingest_options>();
  auto* r = ingest->add_subcommand("run", "Start an ingest run now and follow it");
  add_site_connection_options(r, *run);
  r->add_flag("--follow", run->follow, "Follow the run under way instead of failing when one runs");
  r->add_option("--timeout", run->timeout_s, "Seconds to wait for the run")->capture_default_str();
  r->add_flag("--json", run->json_out, "Print the finished run as the node's JSON (no progress bars)");
  r->add_option("--rescan-since", run->rescan_since,
                "Re-scan the studies from this date (YYYYMMDD): series changed since their ingest get a new version");
  r->callback([run] { run_ingest(*run); });
  auto st = std::make_shared<ingest_options>();
  auto* s = ingest->add_subcommand("status", "What the ingest did and is doing");
  add_site_connection_options(s, *st);
  s->add_flag("--json", st->json_out, "Print the node's JSON");
  s->callback([st] { show_status(*st); });
}

const registrar ingest_command("ingest", &add_ingest_commands);

}  // namespace
}  // namespace dm2::cli
