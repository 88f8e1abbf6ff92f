// Parallel retrieval of one series: the instances listed by an image-level C-FIND are spread
// over N associations (one dicom_client per worker thread) in batches, one C-GET per batch
// (a list of SOP Instance UIDs). Each C-GET proposes the SOP classes the C-FIND named: all of
// the series' classes when there are at most max_get_sop_classes, else those of its batch
// (batches are then cut at that many classes). Failed instances are retried; the fetch can be
// cancelled; progress is reported per object.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <stop_token>
#include <string>
#include <vector>

#include "dm2/pacs/pacs_settings.hpp"
#include "dm2/result.hpp"

namespace dm2::pacs {

struct fetch_progress {
  std::size_t done = 0;     // instances stored so far
  std::size_t total = 0;    // instances in the series
  std::uint64_t bytes = 0;  // bytes stored so far
};

struct fetch_options {
  unsigned associations = 0;  // parallel associations; 0 = settings.associations (default 4)
  unsigned retries = 2;       // further attempts for an instance whose C-GET failed
  std::size_t batch = 0;      // instances per C-GET; 0 = total / (2 x associations), 1..64
  std::stop_token stop;       // request_stop() cancels: workers stop after their current object
  // Called after each stored instance, from worker threads but never concurrently.
  std::function<void(const fetch_progress&)> progress;
  // Called with each stored instance's file as it arrives (after `progress`), never
  // concurrently: a caller may work on the instances while the rest are still coming.
  std::function<void(const std::string& path)> arrived;
  // When set, instances are received into memory and handed here instead of being written to
  // dest_dir (dicom_client's get_observer::received: each a Part 10 object in the transfer
  // syntax it came in), after `progress`, never concurrently; fetch_report::files then holds
  // their SOP Instance UIDs. Received bytes beyond max_memory_bytes fail the fetch with too_large
  // (a PACS sending more than the caller can hold; not retried).
  std::function<void(const std::string& sop_instance_uid, std::string part10)> received;
  std::uint64_t max_memory_bytes = std::uint64_t{1} << 30;
  // Called when one attempt for an instance fails (before any retry), never concurrently.
  // For logging and tests; the error never holds nominative data.
  std::function<void(const std::string& sop_instance_uid, const error&)> on_attempt_failed;
};

struct fetch_report {
  std::vector<std::string> files;  // one per instance, in C-FIND order (SOP Instance UIDs: received)
  std::uint64_t bytes = 0;
  unsigned associations = 0;       // how many were used
  unsigned retried = 0;            // attempts beyond the first, over all instances
};

// Fetches every instance of the series into `dest_dir` (<SOPInstanceUID>.dcm, as received).
// All or nothing: on any error the files this call wrote are removed again.
// Errors: not_found (C-FIND lists no instance), cancelled, invalid_config, too_large (received
// into memory: beyond max_memory_bytes), malformed_input (an instance received into memory is
// not DICOM), and the
// dicom_client errors (unavailable, permission_denied, timeout, io_error) of the instance that
// still failed after its retries. Thread-safe (the call owns its clients).
result<fetch_report> fetch_series(const pacs_settings& settings, const std::string& study_uid,
                                  const std::string& series_uid,
                                  const std::filesystem::path& dest_dir,
                                  const fetch_options& options = {});

}  // namespace dm2::pacs
