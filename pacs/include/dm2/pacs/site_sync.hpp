// Site sync: find the series added to the PACS since the last sync and hand each one over.
//
// The PACS is asked by date (study-level C-FIND on StudyDate >= the cursor's date, then a
// series-level C-FIND per study). The cursor remembers the last date reached and the series
// already handed over on that date, so a sync is incremental (old series are not asked for
// again) and restartable (after an error, the next run resumes with the series that failed).
// Studies without a usable date (StudyDate empty or 00000000) match no date range: they are
// found by listing every study (sync_options::undated), handed over after the dated ones and
// remembered by series UID in the cursor.
// Limitation of date-based C-FIND: a series arriving late with a StudyDate older than the
// cursor's date, or a series the cursor passed that gained or lost instances since, is not seen
// by an incremental sync: a re-scan (sync_options::rescan_since) lists a range again and hands
// over every series in it, the handler telling the unchanged ones apart.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>

#include "dm2/pacs/pacs_settings.hpp"
#include "dm2/result.hpp"

namespace dm2::pacs {

struct sync_cursor {
  std::string date;                  // YYYYMMDD: everything before it has been handed over
  std::set<std::string> seen;        // SeriesInstanceUIDs handed over on `date` itself
  std::set<std::string> undated;     // ... of studies without a usable StudyDate

  std::string encode() const;        // compact JSON
  // Errors: malformed_input.
  static result<sync_cursor> decode(const std::string& text);
};

// Where the cursor is kept between runs (the node: RocksDB node_meta; the CLI: a file).
class sync_cursor_store {
 public:
  virtual ~sync_cursor_store() = default;
  // The stored cursor, or nullopt before the first sync.
  virtual result<std::optional<sync_cursor>> load() = 0;
  virtual status save(const sync_cursor& cursor) = 0;
};

// A cursor in one file, replaced atomically (write + rename). Not thread-safe.
class file_cursor_store final : public sync_cursor_store {
 public:
  explicit file_cursor_store(std::string path) : path_(std::move(path)) {}
  result<std::optional<sync_cursor>> load() override;  // errors: io_error, malformed_input
  status save(const sync_cursor& cursor) override;     // errors: io_error
 private:
  std::string path_;
};

struct series_ref {
  std::string study_uid;
  std::string series_uid;
  std::string study_date;  // YYYYMMDD, or "" for a study whose StudyDate is empty or 00000000
  std::string modality;
  std::string instances;   // NumberOfSeriesRelatedInstances, as the PACS gave it ("" if not)
};

struct sync_options {
  std::string since = "19000101";  // first date to ask for when no cursor is stored
  std::string until;               // last date to ask for ("" = no limit)
  // Also find studies whose StudyDate is empty or 00000000 (they match no date range): one more
  // study-level C-FIND that lists every study on the PACS (UID and date only) per run.
  bool undated = true;
  // A re-scan: list studies from this date (YYYYMMDD) whatever the cursor says, and hand over
  // every series listed, the ones the cursor remembers included. The cursor only moves forward.
  // "" = an incremental sync.
  std::string rescan_since;
};

struct sync_report {
  unsigned studies = 0;       // studies the PACS listed
  unsigned handed_over = 0;   // series passed to the handler in this run
  unsigned skipped = 0;       // series already handed over before (a re-scan skips none)
  sync_cursor cursor;         // the cursor after this run
};

// Runs one sync. `on_series` is called once per new series, oldest date first; the cursor is
// saved after every series it accepts. If it returns an error, the sync stops there and
// returns that error (the series will be offered again next run).
// Errors: the dicom_client errors of the C-FINDs, malformed_input (bad dates in options),
// the cursor store's errors, and the handler's.
result<sync_report> sync_site(const pacs_settings& settings, sync_cursor_store& store,
                              const std::function<status(const series_ref&)>& on_series,
                              const sync_options& options = {});

}  // namespace dm2::pacs
