// `dm2 pacs echo|find|fetch|sync|deidentify`: the site PACS from the command line, thin over
// dm2::pacs. Settings come from dm2d's config file ([pacs]) when given, then from the flags.
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli_common.hpp"
#include "dm2/pacs/deidentify.hpp"
#include "dm2/pacs/dicom_client.hpp"
#include "dm2/pacs/parallel_fetch.hpp"
#include "dm2/pacs/site_sync.hpp"
#include "dm2/pacs/volume.hpp"

namespace dm2::cli {
namespace {

struct pacs_cli_options {
  std::string config_path;
  std::string host, aet, aec;
  int port = 0, store_port = -1, timeout_s = 0;
  unsigned associations = 0;
  bool json = false;
  // find
  std::string level = "study";
  std::vector<std::string> keys;
  // fetch
  std::string study, series, out;
  bool nifti = false;
  // sync
  std::string cursor, since = "19000101", until;
  bool no_undated = false;
  // deidentify
  std::vector<std::string> inputs;
  std::string secret_file;
  int shift_days = 0;
  bool shift = false;
  std::string pseudonym;
};

constexpr const char* not_deidentified_note =
    "note: these files are NOT de-identified: they hold the patient's name, IDs, dates and UIDs as "
    "the PACS stores them. Keep them inside the hospital; `dm2 pacs deidentify` writes a "
    "de-identified copy.";

pacs::pacs_settings settings_from(const pacs_cli_options& o) {
  pacs::pacs_settings s = load_node_config(o.config_path, "").pacs;
  if (!o.host.empty()) s.host = o.host;
  if (o.port != 0) s.port = static_cast<std::uint16_t>(o.port);
  if (!o.aet.empty()) s.calling_ae_title = o.aet;
  if (!o.aec.empty()) s.called_ae_title = o.aec;
  if (o.store_port >= 0) s.store_port = static_cast<std::uint16_t>(o.store_port);
  if (o.timeout_s != 0) s.timeout = std::chrono::seconds(o.timeout_s);
  if (o.associations != 0) s.associations = o.associations;
  if (auto v = pacs::validate(s); !v) throw command_failed(exit_bad_input, v.err().message);
  return s;
}

[[noreturn]] void remote_failure(const error& e) {
  const int code = e.code == errc::io_error ? exit_local_state
                   : e.code == errc::invalid_argument || e.code == errc::invalid_config ||
                           e.code == errc::malformed_input
                       ? exit_bad_input
                       : exit_remote;
  throw command_failed(code, e.to_string());
}

// The outermost directory of `dir` that does not exist yet ("" if it exists): what creating
// `dir` adds, and what a failed command removes again.
std::filesystem::path first_missing(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::path missing;
  for (auto p = std::filesystem::absolute(dir, ec).lexically_normal(); !p.empty(); p = p.parent_path()) {
    if (p.filename().empty() && p.has_parent_path() && p != p.parent_path()) continue;  // trailing '/'
    if (std::filesystem::exists(p, ec)) break;
    missing = p;
    if (p == p.parent_path()) break;
  }
  return missing;
}

// Creates `dir`; returns what it created (see first_missing). Throws command_failed.
std::filesystem::path create_output_dir(const std::string& dir) {
  auto created = first_missing(dir);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw command_failed(exit_local_state, "cannot create " + dir + ": " + ec.message());
  return created;
}

// After a failure: removes `created` if nothing but directories are left in it.
void remove_if_empty(const std::filesystem::path& created) {
  if (created.empty()) return;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(created, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec))
    if (!it->is_directory(ec)) return;
  std::filesystem::remove_all(created, ec);
}

// Ctrl-C cancels a fetch: the handler only sets a flag; a watcher thread turns it into a stop.
std::atomic<bool> interrupted{false};
extern "C" void on_sigint(int) { interrupted = true; }

void run_echo(const pacs_cli_options& o) {
  auto s = settings_from(o);
  pacs::dicom_client client(s);
  const auto t0 = std::chrono::steady_clock::now();
  if (auto r = client.echo(); !r) remote_failure(r.err());
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "C-ECHO " << s.called_ae_title << "@" << s.host << ":" << s.port << " ok (" << ms << " ms)\n";
}

void run_find(const pacs_cli_options& o) {
  pacs::dicom_query q;
  if (o.level == "patient") q.level = pacs::query_level::patient;
  else if (o.level == "study") q.level = pacs::query_level::study;
  else if (o.level == "series") q.level = pacs::query_level::series;
  else if (o.level == "image") q.level = pacs::query_level::image;
  else throw command_failed(exit_usage, "--level must be patient, study, series or image");
  for (const auto& k : o.keys) {
    auto eq = k.find('=');
    if (eq == std::string::npos) q.keys[k] = "";
    else q.keys[k.substr(0, eq)] = k.substr(eq + 1);
  }
  pacs::dicom_client client(settings_from(o));
  auto r = client.find(q);
  if (!r) remote_failure(r.err());
  if (o.json) {
    nlohmann::json all = nlohmann::json::array();
    for (const auto& m : *r) all.push_back(m.attributes);
    std::cout << all.dump(2) << '\n';
    return;
  }
  for (const auto& m : *r) {
    bool first = true;
    for (const auto& [k, v] : m.attributes) {
      if (k == "QueryRetrieveLevel" || k == "SpecificCharacterSet") continue;
      std::cout << (first ? "" : "  ") << k << '=' << v;
      first = false;
    }
    std::cout << '\n';
  }
  std::cerr << r->size() << " match(es)\n";
}

// Assembly of a fetched series failed: the files stay (the fetch worked); the exit code says
// whose limit it was.
[[noreturn]] void assembly_failure(const error& e, const std::string& out) {
  const std::string what = "the series was fetched into " + out + " but no volume was written: " + e.message;
  if (e.code == errc::unsupported)
    throw command_failed(exit_unsupported, what + " (a limitation of dm2, not a PACS failure)");
  if (e.code == errc::io_error) throw command_failed(exit_local_state, what);
  throw command_failed(exit_bad_input, what);
}

void run_fetch(const pacs_cli_options& o) {
  auto s = settings_from(o);
  const auto created = create_output_dir(o.out);
  std::stop_source stop;
  interrupted = false;
  auto previous = std::signal(SIGINT, on_sigint);
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done) {
      if (interrupted) stop.request_stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  progress_bar bar;
  pacs::fetch_options fo;
  fo.stop = stop.get_token();
  fo.progress = [&](const pacs::fetch_progress& p) { bar.draw(p.done, p.total, p.bytes); };
  const auto t0 = std::chrono::steady_clock::now();
  auto r = pacs::fetch_series(s, o.study, o.series, o.out, fo);
  done = true;
  watcher.join();
  std::signal(SIGINT, previous);
  bar.finish();
  if (!r) {
    remove_if_empty(created);  // fetch_series removed its files: leave no empty directory behind
    remote_failure(r.err());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << r->files.size() << " instances, " << r->bytes << " bytes in " << secs << " s over "
            << r->associations << " associations -> " << o.out << '\n';
  std::cerr << not_deidentified_note << '\n';
  if (o.nifti) {
    std::vector<std::filesystem::path> files(r->files.begin(), r->files.end());
    auto v = pacs::assemble_series(files);
    if (!v) assembly_failure(v.err(), o.out);
    auto path = std::filesystem::path(o.out) / "volume.nii";
    if (auto w = pacs::write_nifti(*v, path); !w) assembly_failure(w.err(), o.out);
    std::cout << "volume " << v->dims[0] << "x" << v->dims[1] << "x" << v->dims[2] << " spacing "
              << v->spacing[0] << "/" << v->spacing[1] << "/" << v->spacing[2] << " mm -> " << path.string() << '\n';
  }
}

// The consortium secret for UID remapping, from a file (never from the command line, which
// other users can read). Throws command_failed.
std::string read_secret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw command_failed(exit_bad_input, "cannot read the secret file " + path);
  std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.size() < 16) throw command_failed(exit_bad_input, "the secret in " + path + " is shorter than 16 bytes");
  return secret;
}

// True if `path` starts like a DICOM file (preamble + "DICM").
bool looks_like_dicom(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char head[132] = {};
  return in.read(head, sizeof head) && std::string(head + 128, 4) == "DICM";
}

void run_deidentify(const pacs_cli_options& o) {
  pacs::deid_options d;
  d.uid_secret = read_secret(o.secret_file);
  d.patient_pseudonym = o.pseudonym;
  if (o.shift) {
    d.dates = pacs::date_mode::shift;
    d.shift_days = o.shift_days;
  }
  // Named files are taken as they are; in a named directory only DICOM files (Part 10) are.
  std::vector<std::filesystem::path> files;
  std::size_t skipped = 0;
  std::error_code ec;
  for (const auto& in : o.inputs) {
    if (!std::filesystem::is_directory(in, ec)) {
      files.emplace_back(in);
      continue;
    }
    for (auto it = std::filesystem::recursive_directory_iterator(in, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      if (looks_like_dicom(it->path())) files.push_back(it->path());
      else ++skipped;
    }
    if (ec) throw command_failed(exit_bad_input, "cannot list " + in + ": " + ec.message());
  }
  if (files.empty()) throw command_failed(exit_bad_input, "no DICOM file to de-identify");
  const auto created = create_output_dir(o.out);
  const auto out = std::filesystem::path(o.out);
  std::vector<std::filesystem::path> written;
  // Undoes this run: a half de-identified set is worse than none.
  auto undo = [&] {
    for (const auto& f : written) std::filesystem::remove(f, ec);
    remove_if_empty(created);
  };
  progress_bar bar;
  for (std::size_t i = 0; i < files.size(); ++i) {
    // Named after the new (remapped) SOPInstanceUID, never after the input's name or UID.
    const auto part = out / (".deidentify-" + std::to_string(i) + ".part");
    auto r = pacs::deidentify_file(files[i], part, d);
    if (!r) {
      bar.finish();
      undo();
      const int code = r.err().code == errc::io_error ? exit_local_state : exit_bad_input;
      throw command_failed(code, files[i].string() + ": " + r.err().message + " (nothing written)");
    }
    const auto final_path = out / (r->sop_instance_uid + ".dcm");
    std::filesystem::rename(part, final_path, ec);
    if (ec) {
      std::filesystem::remove(part, ec);
      bar.finish();
      undo();
      throw command_failed(exit_local_state, "cannot write into " + o.out + " (nothing written)");
    }
    written.push_back(final_path);
    bar.draw(i + 1, files.size());
  }
  bar.finish();
  std::cout << written.size() << " files de-identified (PS3.15 Basic profile, private attributes removed, UIDs "
            << "remapped, dates " << (o.shift ? "shifted by " + std::to_string(o.shift_days) + " days" : "removed")
            << ") -> " << o.out << '\n';
  if (skipped != 0) std::cerr << skipped << " non-DICOM file(s) skipped\n";
  std::cerr << "the nominative record (original values) is not written by this command\n";
}

void run_sync(const pacs_cli_options& o) {
  auto s = settings_from(o);
  pacs::file_cursor_store store(o.cursor);
  pacs::sync_options so;
  so.since = o.since;
  so.until = o.until;
  so.undated = !o.no_undated;
  auto r = pacs::sync_site(s, store, [&](const pacs::series_ref& ref) -> status {
    std::cout << (ref.study_date.empty() ? "undated" : ref.study_date) << ' ' << (ref.modality.empty() ? "-" : ref.modality) << ' ' << ref.study_uid << ' '
              << ref.series_uid << ' ' << (ref.instances.empty() ? "?" : ref.instances) << '\n';
    return {};
  }, so);
  if (!r) remote_failure(r.err());
  std::cerr << r->handed_over << " new series, " << r->skipped << " already seen, cursor " << r->cursor.date << '\n';
}

void add_pacs_commands(CLI::App& dm2) {
  auto* pacs = dm2.add_subcommand("pacs", "The site PACS (DICOM C-ECHO, C-FIND, parallel C-GET, sync, de-identification)");
  pacs->require_subcommand(1);
  auto o = std::make_shared<pacs_cli_options>();
  auto common = [o](CLI::App* c) {
    c->add_option("-c,--config", o->config_path, "dm2d's TOML config file ([pacs] section)")->check(CLI::ExistingFile);
    c->add_option("--host", o->host, "PACS host (default 127.0.0.1)");
    c->add_option("--port", o->port, "PACS DICOM port (default 4242)")->check(CLI::Range(1, 65535));
    c->add_option("--aet", o->aet, "Our (calling) AE title (default DM2)");
    c->add_option("--aec", o->aec, "The PACS's (called) AE title (default ORTHANC)");
    c->add_option("--timeout", o->timeout_s, "Association and DIMSE timeout, seconds")->check(CLI::Range(1, 3600));
  };
  auto* echo = pacs->add_subcommand("echo", "C-ECHO the PACS");
  common(echo);
  echo->callback([o] { run_echo(*o); });

  auto* find = pacs->add_subcommand("find", "C-FIND at patient, study, series or image level");
  common(find);
  find->add_option("-l,--level", o->level, "patient|study|series|image (default study)");
  find->add_option("-k,--key", o->keys, "Matching key KEYWORD=VALUE (repeatable), e.g. StudyDate=20240101-");
  find->add_flag("--json", o->json, "Print the matches as JSON");
  find->callback([o] { run_find(*o); });

  auto* fetch = pacs->add_subcommand(
      "fetch", "Fetch one series with parallel C-GET (progress on stderr). The files are NOT de-identified");
  common(fetch);
  fetch->add_option("--study", o->study, "StudyInstanceUID")->required();
  fetch->add_option("--series", o->series, "SeriesInstanceUID")->required();
  fetch->add_option("-o,--out", o->out, "Output directory")->required();
  fetch->add_option("-n,--associations", o->associations, "Parallel associations (default 4)")->check(CLI::Range(1, 32));
  fetch->add_flag("--nifti", o->nifti, "Also assemble the series and write volume.nii");
  fetch->callback([o] { run_fetch(*o); });

  auto* sync = pacs->add_subcommand("sync", "List series added since the last sync (cursor in a file)");
  common(sync);
  sync->add_option("--cursor", o->cursor, "Cursor file (created on first sync)")->required();
  sync->add_option("--since", o->since, "First StudyDate when no cursor exists (YYYYMMDD)");
  sync->add_option("--until", o->until, "Last StudyDate (YYYYMMDD)");
  sync->add_flag("--no-undated", o->no_undated,
                 "Skip the scan for studies without a StudyDate (it lists every study on the PACS)");
  sync->callback([o] { run_sync(*o); });

  auto* deid = pacs->add_subcommand(
      "deidentify", "Write de-identified copies of DICOM files (PS3.15 Basic profile; no PACS involved)");
  deid->add_option("inputs", o->inputs, "DICOM files or directories (e.g. a `dm2 pacs fetch` output)")->required();
  deid->add_option("-o,--out", o->out, "Output directory (files named <new SOPInstanceUID>.dcm)")->required();
  deid->add_option("--secret-file", o->secret_file,
                   "File holding the consortium secret (>= 16 bytes) that remaps UIDs consistently")
      ->required();
  deid->add_option("--shift-days", o->shift_days, "Keep dates, shifted by this many days (default: remove them)")
      ->check(CLI::Range(-36500, 36500))
      ->each([o](const std::string&) { o->shift = true; });
  deid->add_option("--pseudonym", o->pseudonym, "Value for PatientName and PatientID (default: empty)");
  deid->callback([o] { run_deidentify(*o); });
}

const registrar pacs_commands("pacs", &add_pacs_commands);

}  // namespace
}  // namespace dm2::cli
