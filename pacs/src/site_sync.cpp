#include "dm2/pacs/site_sync.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "dm2/pacs/dicom_client.hpp"

namespace dm2::pacs {
namespace {

bool valid_date(const std::string& d) {
  return d.size() == 8 && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string sync_cursor::encode() const {
  nlohmann::json j;
  j["date"] = date;
  j["seen"] = std::vector<std::string>(seen.begin(), seen.end());
  return j.dump();
}

result<sync_cursor> sync_cursor::decode(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("date") || !j["date"].is_string() ||
      !j.contains("seen") || !j["seen"].is_array())
    return fail(errc::malformed_input, "sync cursor is not {\"date\":..., \"seen\":[...]}");
  sync_cursor c;
  c.date = j["date"].get<std::string>();
  if (!valid_date(c.date)) return fail(errc::malformed_input, "sync cursor date is not YYYYMMDD");
  for (const auto& s : j["seen"]) {
    if (!s.is_string()) return fail(errc::malformed_input, "sync cursor lists a non-string series");
    c.seen.insert(s.get<std::string>());
  }
  return c;
}

result<std::optional<sync_cursor>> file_cursor_store::load() {
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) return std::optional<sync_cursor>{};
  std::ifstream in(path_);
  if (!in) return fail(errc::io_error, "cannot read the sync cursor file");
  std::stringstream text;
  text << in.rdbuf();
  auto c = sync_cursor::decode(text.str());
  if (!c) return c.err();
  return std::optional<sync_cursor>{std::move(*c)};
}

status file_cursor_store::save(const sync_cursor& cursor) {
  const std::string tmp = path_ + ".part";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << cursor.encode();
    if (!out.flush()) return fail(errc::io_error, "cannot write the sync cursor file");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path_, ec);
  if (ec) return fail(errc::io_error, "cannot replace the sync cursor file: " + ec.message());
  return {};
}

result<sync_report> sync_site(const pacs_settings& settings, sync_cursor_store& store,
                              const std::function<status(const series_ref&)>& on_series,
                              const sync_options& options) {
  if (!valid_date(options.since) || (!options.until.empty() && !valid_date(options.until)))
    return fail(errc::malformed_input, "sync dates must be YYYYMMDD");
  auto loaded = store.load();
  if (!loaded) return loaded.err();
  sync_report report;
  report.cursor = loaded->value_or(sync_cursor{options.since, {}});
  if (report.cursor.date < options.since) report.cursor = {options.since, {}};

  dicom_client client(settings);
  auto studies = client.find({query_level::study, {{"StudyDate", report.cursor.date + "-" + options.until}}});
  if (!studies) return studies.err();
  report.studies = static_cast<unsigned>(studies->size());

  // Oldest first, so the cursor only moves forward.
  std::vector<series_ref> todo;
  for (const auto& study : *studies) {
    const std::string& date = study.get("StudyDate");
    const std::string& uid = study.get("StudyInstanceUID");
    if (!valid_date(date) || uid.empty() || date < report.cursor.date) continue;
    auto series = client.find({query_level::series, {{"StudyInstanceUID", uid}}});
    if (!series) return series.err();
    for (const auto& s : *series) {
      if (s.get("SeriesInstanceUID").empty()) continue;
      todo.push_back({uid, s.get("SeriesInstanceUID"), date, s.get("Modality"),
                      s.get("NumberOfSeriesRelatedInstances")});
    }
  }
  client.close();
  std::sort(todo.begin(), todo.end(), [](const series_ref& a, const series_ref& b) {
    return std::tie(a.study_date, a.study_uid, a.series_uid) < std::tie(b.study_date, b.study_uid, b.series_uid);
  });

  for (const auto& s : todo) {
    if (s.study_date == report.cursor.date && report.cursor.seen.count(s.series_uid) != 0) {
      ++report.skipped;
      continue;
    }
    if (auto handled = on_series(s); !handled) {
      spdlog::warn("event=pacs_sync_stopped handed_over={} code={}", report.handed_over, name_of(handled.err().code));
      return handled.err();
    }
    if (s.study_date != report.cursor.date) report.cursor = {s.study_date, {}};
    report.cursor.seen.insert(s.series_uid);
    if (auto saved = store.save(report.cursor); !saved) return saved.err();
    ++report.handed_over;
  }
  return report;
}

}  // namespace dm2::pacs
