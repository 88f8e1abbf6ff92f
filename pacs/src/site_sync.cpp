#include "dm2/pacs/site_sync.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "dm2/pacs/dicom_client.hpp"

namespace dm2::pacs {
namespace {

bool valid_date(const std::string& d) {
  return d.size() == 8 && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A StudyDate a range can place: YYYYMMDD and not the 00000000 some PACS store for "unknown".
bool usable_date(const std::string& d) { return valid_date(d) && d != "00000000"; }

// The series of each study in `studies` (handed over with `date` as their study date).
status list_series(dicom_client& client, const std::vector<std::string>& studies,
                   const std::function<std::string(const std::string&)>& date_of, std::vector<series_ref>& out) {
  for (const auto& uid : studies) {
    auto series = client.find({query_level::series, {{"StudyInstanceUID", uid}}});
    if (!series) return series.err();
    for (const auto& s : *series) {
      if (s.get("SeriesInstanceUID").empty()) continue;
      out.push_back({uid, s.get("SeriesInstanceUID"), date_of(uid), s.get("Modality"),
                     s.get("NumberOfSeriesRelatedInstances")});
    }
  }
  return {};
}

}  // namespace

std::string sync_cursor::encode() const {
  nlohmann::json j;
  j["date"] = date;
  j["seen"] = std::vector<std::string>(seen.begin(), seen.end());
  if (!undated.empty()) j["undated"] = std::vector<std::string>(undated.begin(), undated.end());
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
  if (j.contains("undated")) {
    if (!j["undated"].is_array()) return fail(errc::malformed_input, "sync cursor's undated is not a list");
    for (const auto& s : j["undated"]) {
      if (!s.is_string()) return fail(errc::malformed_input, "sync cursor lists a non-string series");
      c.undated.insert(s.get<std::string>());
    }
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
  if (!valid_date(options.since) || (!options.until.empty() && !valid_date(options.until)) ||
      (!options.rescan_since.empty() && !valid_date(options.rescan_since)))
    return fail(errc::malformed_input, "sync dates must be YYYYMMDD");
  const bool rescan = !options.rescan_since.empty();
  auto loaded = store.load();
  if (!loaded) return loaded.err();
  sync_report report;
  if (loaded->has_value()) report.cursor = **loaded;
  if (report.cursor.date < options.since) {
    report.cursor.date = options.since;
    report.cursor.seen.clear();
  }

  const std::string from = rescan ? options.rescan_since : report.cursor.date;

  dicom_client client(settings);
  auto studies = client.find({query_level::study, {{"StudyDate", from + "-" + options.until}}});
  if (!studies) return studies.err();
  report.studies = static_cast<unsigned>(studies->size());

  // Oldest first, so the cursor only moves forward.
  std::vector<std::string> dated;
  std::map<std::string, std::string> date_of;
  for (const auto& study : *studies) {
    const std::string& date = study.get("StudyDate");
    const std::string& uid = study.get("StudyInstanceUID");
    // A study without a usable date is the undated scan's (some PACS match it to any range).
    if (!usable_date(date) || uid.empty() || date < from) continue;
    if (date_of.emplace(uid, date).second) dated.push_back(uid);
  }
  std::vector<series_ref> todo;
  auto date = [&date_of](const std::string& uid) { return date_of[uid]; };
  if (auto listed = list_series(client, dated, date, todo); !listed) return listed.err();
  std::sort(todo.begin(), todo.end(), [](const series_ref& a, const series_ref& b) {
    return std::tie(a.study_date, a.study_uid, a.series_uid) < std::tie(b.study_date, b.study_uid, b.series_uid);
  });

  // Studies with an empty or 00000000 StudyDate match no date range: list every study
  // (universal matching, two attributes each) and keep those. Handed over after the dated ones.
  if (options.undated) {
    auto all = client.find({query_level::study, {{"StudyInstanceUID", ""}, {"StudyDate", ""}}, false});
    if (!all) return all.err();
    std::vector<std::string> undated;
    for (const auto& study : *all) {
      const std::string& uid = study.get("StudyInstanceUID");
      if (!uid.empty() && !usable_date(study.get("StudyDate")) && date_of.emplace(uid, "").second)
        undated.push_back(uid);
    }
    report.studies += static_cast<unsigned>(undated.size());
    std::vector<series_ref> more;
    if (auto listed = list_series(client, undated, date, more); !listed) return listed.err();
    std::sort(more.begin(), more.end(), [](const series_ref& a, const series_ref& b) {
      return std::tie(a.study_uid, a.series_uid) < std::tie(b.study_uid, b.series_uid);
    });
    todo.insert(todo.end(), more.begin(), more.end());
  }
  client.close();

  for (const auto& s : todo) {
    const bool has_date = !s.study_date.empty();
    if (!rescan && (has_date ? s.study_date == report.cursor.date && report.cursor.seen.count(s.series_uid) != 0
                             : report.cursor.undated.count(s.series_uid) != 0)) {
      ++report.skipped;
      continue;
    }
    if (auto handled = on_series(s); !handled) {
      spdlog::warn("event=pacs_sync_stopped handed_over={} code={}", report.handed_over, name_of(handled.err().code));
      return handled.err();
    }
    if (!has_date) {
      report.cursor.undated.insert(s.series_uid);
    } else if (s.study_date >= report.cursor.date) {  // a re-scan's older dates leave the cursor be
      if (s.study_date != report.cursor.date) {
        report.cursor.date = s.study_date;
        report.cursor.seen.clear();
      }
      report.cursor.seen.insert(s.series_uid);
    }
    if (auto saved = store.save(report.cursor); !saved) return saved.err();
    ++report.handed_over;
  }
  return report;
}

}  // namespace dm2::pacs
