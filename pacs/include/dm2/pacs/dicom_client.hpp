// A DICOM SCU towards the site's PACS: C-ECHO, C-FIND, C-GET and C-MOVE (DCMTK underneath).
//
// One dicom_client owns at most one association. It opens it on first use and keeps it for
// the following calls (close() or destruction releases it); after a network error the next
// call opens a new one. Not thread-safe: use one client per thread (parallel_fetch does).
// The first use in a process sets TCP_NODELAY=1 in the environment (DCMTK reads it to turn
// Nagle's algorithm off; without it every C-GET waits on delayed ACKs) unless already set; a
// multi-threaded program should create its first client before starting other threads.
//
// Errors, for every call:
//   unavailable       the PACS cannot be reached (connection refused, host unknown),
//                     or it answered a request with a failure status (the status is named)
//   permission_denied the PACS rejected the association (e.g. unknown calling/called AE title)
//   timeout           no answer within settings.timeout
//   invalid_config    the settings do not validate
//   cancelled         the caller's stop flag was raised during a transfer
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dm2/pacs/dicom_query.hpp"
#include "dm2/pacs/pacs_settings.hpp"
#include "dm2/result.hpp"

namespace dm2::pacs {

// Told about each object of a C-GET as it arrives (on the calling thread).
struct get_observer {
  // Stored at `path` (named after its SOPInstanceUID when that is a valid UID).
  std::function<void(const std::string& sop_instance_uid, const std::string& path, std::uint64_t bytes)> stored;
  // Could not be stored (the C-GET then ends with io_error).
  std::function<void(const std::string& sop_instance_uid)> store_failed;
};

class dicom_client {
 public:
  explicit dicom_client(pacs_settings settings);
  ~dicom_client();
  dicom_client(const dicom_client&) = delete;
  dicom_client& operator=(const dicom_client&) = delete;
  dicom_client(dicom_client&&) noexcept;
  dicom_client& operator=(dicom_client&&) noexcept;

  // C-ECHO (Verification).
  status echo();

  // C-FIND at query.level. Returns every match (possibly none).
  // Extra errors: invalid_argument (unknown keyword in query.keys).
  result<std::vector<find_match>> find(const dicom_query& query);

  // C-GET of what `identifiers` names (StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID as
  // the level needs; several UIDs may be joined with '\'). The PACS sends the objects back on
  // this association (C-STORE sub-operations); each is written into `dest_dir` byte for byte as
  // received, named <SOPInstanceUID>.dcm. A partial file is never left behind.
  // `stop`, if given, is polled between objects (cancelled). `observer`, if given, hears about
  // each object, also when the call fails later.
  // Extra errors: not_found (nothing matched), io_error (dest_dir not writable, or an object
  // could not be written), unavailable (the PACS reported failed sub-operations). Files
  // received before an error stay (the observer or the names tell which).
  result<retrieve_report> get(const dicom_query& identifiers, const std::filesystem::path& dest_dir,
                              const std::atomic<bool>* stop = nullptr,
                              const get_observer* observer = nullptr);

  // C-MOVE of `identifiers` to ourselves: starts an in-process C-STORE SCP listening on
  // settings.store_address:store_port only (AE title settings.calling_ae_title, accepting only
  // the PACS's host), asks the PACS to move there, and stops the SCP when the move completes. The PACS must know
  // our AE title with that host and port. Files land in `dest_dir` as received.
  // Extra errors: as get(); invalid_config if store_port is 0; io_error if the port is taken.
  result<retrieve_report> move(const dicom_query& identifiers, const std::filesystem::path& dest_dir);

  // Releases the association if one is open. Never fails.
  void close() noexcept;

  const pacs_settings& settings() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace dm2::pacs
