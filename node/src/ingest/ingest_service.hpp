// The ingest service (docs/ingest.md): the site's PACS -> de-identified, encrypted series in the
// local object store -> index record, sealed nominative link and key material in one commit ->
// record and key shares in the overlay. Runs on a worker pool of its own (never on the HTTPS I/O
// threads or the overlay's service thread): a scheduled run every pacs.sync_period_s, one at
// start (pacs.ingest_on_start), and runs the operator starts (POST /v1/ingest).
// Thread-safe: every public member may be called from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../overlay_service.hpp"
#include "series_links.hpp"
#include "dm2/node/config.hpp"
#include "dm2/node/identity.hpp"
#include "dm2/node/metrics.hpp"
#include "dm2/storage/database.hpp"
#include "ingest_status.hpp"
#include "object_cache.hpp"
#include "object_store.hpp"

namespace dm2::node {

class ingest_service {
 public:
  // Everything it is given outlives it. Sweeps the object store of files no commit names
  // (left by a crash mid-series). Errors: io_error (the object store cannot be created).
  static result<std::unique_ptr<ingest_service>> create(const node_config& config, const site_identity& identity,
                                                        storage::database& db, overlay_service& overlay,
                                                        metrics& stats);
  ~ingest_service();  // stops

  // Starts the schedule (and the run at start, when configured).
  void start();
  // Cancels the run under way (series not committed are dropped, as after a crash) and waits.
  void stop();

  // Starts a run now. Returns its id. `rescan_since` (YYYYMMDD, "" = an incremental run) makes
  // it a re-scan (pacs::sync_options::rescan_since): every series of the studies from that date
  // is looked at again, so one that gained or lost instances since its ingest becomes a new
  // version. Errors: unavailable (no [pacs] configured, or stopping), conflict (a run is under
  // way), invalid_argument (rescan_since not YYYYMMDD).
  result<std::string> start_run(const std::string& trigger, const std::string& rescan_since = "");
  ingest_report report() const;

  // The reference of the patient series `lfn_hex` belongs to (series_links::patient_ref), when
  // this site owns the series: its nominative link opened with the series key. nullopt
  // otherwise (not ingested here, or the link cannot be read — logged, nothing nominative).
  std::optional<std::string> patient_of(const std::string& lfn_hex) const;
  // The nominative link of a series this site owns, opened with its series key: for the patient
  // and his care team only (the routes ask the policy first). nullopt: not owned here, or no
  // link. Errors: those of series_links::read_link.
  result<std::optional<nominative_link>> nominative_of(const std::string& lfn_hex) const;
  // The LFN of the series this site ingested from its PACS under the original Series Instance
  // UID `series_uid` (and, when `study_uid` is not empty, that Study Instance UID: checked against
  // the sealed nominative link). nullopt: never ingested here, or another study. Errors: those of
  // series_links::find and read_link.
  result<std::optional<std::string>> lfn_of_original(const std::string& study_uid, const std::string& series_uid) const;
  // The reference a patient account is linked to, from the patient's ID at this site.
  std::string patient_ref(const std::string& patient_id) const;
  // The sealed files of the committed version of a series this site owns (the newest stored at
  // or below its record's version: a diagnosis raises the record alone), as stored
  // (object_store::list_series), and that version. A series the cache evicted is re-assembled
  // from the PACS first (restore_series; one at a time per series, the others join it).
  // Its files stay on disk while `lease` lives: hold it until they are read.
  // Errors: not_found (not owned here), io_error, and when evicted those of restore_series
  // (unavailable: the PACS cannot be reached; conflict: it now holds other instances).
  struct stored_series {
    std::uint64_t version = 0;
    std::vector<object_store::stored_file> files;
    object_cache::lease lease;
  };
  result<stored_series> stored(const std::string& lfn_hex) const;
  // The same, readable while an evicted series is being re-assembled (docs/ingest.md, "Cache"):
  // its files are listed from its manifest before they exist, each waited for when read
  // (object_store::open_stored), so the caller serves the first instances while the PACS still
  // sends the rest. Returns once a first file is sealed: what fails early (the PACS down)
  // fails here. A series without a manifest is waited for whole, as by stored().
  result<stored_series> reading(const std::string& lfn_hex) const;
  // The version stored() would read, without restoring an evicted series or listing its files:
  // nullopt when not owned here or not on disk (the stage-2 result cache's key).
  std::optional<std::uint64_t> sealed_version(const std::string& lfn_hex) const;

  struct impl;

 private:
  explicit ingest_service(std::unique_ptr<impl> p);
  result<stored_series> read(const std::string& lfn_hex, bool while_restoring) const;
  std::unique_ptr<impl> impl_;
};

}  // namespace dm2::node
