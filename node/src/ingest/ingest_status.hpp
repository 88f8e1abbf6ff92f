// What the ingest service tells operators (GET /v1/ingest, `dm2 ingest status`, metrics): the
// current run with each series under way, the last finished run, and totals since start.
// Series are named by their LFN only (never an original UID or anything nominative).
// ingest_book is thread-safe: pipeline workers report, HTTP handlers read snapshots.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace dm2::node {

struct series_progress {
  std::string lfn;                // 32 hex digits
  std::string stage;              // fetch, assemble, signature, deidentify, encrypt, commit, publish
  std::size_t instances_done = 0;
  std::size_t instances_total = 0;
  std::uint64_t bytes = 0;        // fetched so far
};

struct series_failure {
  std::string lfn;     // the LFN the series had for this attempt ("" when the failure came first)
  std::string stage;   // where it failed
  std::string reason;  // the error's text (never nominative)
};

struct ingest_counts {
  std::uint64_t series_seen = 0;       // new or changed series the sync handed over
  std::uint64_t series_fetched = 0;    // fetched from the PACS
  std::uint64_t series_indexed = 0;    // committed and published
  std::uint64_t series_unchanged = 0;  // already ingested with the same instances
  std::uint64_t series_failed = 0;
  std::uint64_t bytes_fetched = 0;
  std::uint64_t bytes_stored = 0;      // sealed bytes written to the object store
};

struct ingest_run {
  std::string id;
  std::string trigger;             // "operator", "schedule", "schedule-rescan" or "start"
  std::int64_t started_at = 0;     // seconds since the epoch
  std::int64_t finished_at = 0;    // 0 while running
  std::string state = "running";   // running, done, failed (the sync itself failed)
  std::string error;               // why the run failed
  ingest_counts counts;
  std::vector<series_failure> failures;
  std::vector<series_progress> in_progress;
};

struct ingest_report {
  bool pacs_configured = false;
  std::int64_t sync_period_s = 0;
  ingest_counts totals;               // since this node started
  std::optional<ingest_run> current;
  std::optional<ingest_run> last;
};

class ingest_book {
 public:
  // Starts a run; false if one is under way.
  bool begin(const std::string& id, const std::string& trigger);
  void finish(const std::string& error);
  void seen();
  void unchanged(const std::string& lfn);
  void progress(const series_progress& p);
  void fetched(std::uint64_t bytes);
  void indexed(const std::string& lfn, std::uint64_t bytes_stored);
  void failed(series_failure f);
  bool running() const;
  ingest_report report(bool pacs_configured, std::int64_t sync_period_s) const;

 private:
  void add(std::uint64_t ingest_counts::*field, std::uint64_t by);
  mutable std::mutex mutex_;
  ingest_counts totals_;
  std::optional<ingest_run> current_, last_;
  std::map<std::string, series_progress> under_way_;  // lfn -> progress
};

}  // namespace dm2::node
