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
//   permission_denied the PACS rejected the association; the message gives the reject reason
//                     (our calling AE title or its called AE title not recognised, congestion...)
//   timeout           no answer within settings.timeout
//   invalid_config    the settings do not validate
//   cancelled         the caller's stop flag was raised during a transfer
#pragma once

#include <atomic>
#include <cstddef>
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
  // When set, objects are received into memory instead of dest_dir: each dataset is parsed as it
  // arrives, encoded as a Part 10 object in the transfer syntax it came in, and handed here
  // (`stored` is not called, dest_dir is not used; retrieve_report::files then holds SOP Instance
  // UIDs). Returning
  // false refuses the object: the C-GET ends with io_error. An object that does not parse as
  // DICOM ends it with malformed_input.
  std::function<bool(const std::string& sop_instance_uid, std::string part10)> received;
};

// Presentation contexts one association proposes at most. DICOM allows 128 (context IDs are
// the odd numbers 1..255), but an older PACS may abort an association request with far fewer
// (its own table is smaller); dm2 stays at 16 and negotiates again on a new association for
// what one does not cover.
inline constexpr std::size_t max_presentation_contexts = 16;

// How many storage SOP classes one C-GET association proposes. After the GET context, a lone
// class takes 10 contexts (one per transfer-syntax group we read); two classes take 6 each
// (uncompressed, JPEG baseline, JPEG lossless SV1, JPEG-LS lossless, RLE, JPEG 2000 lossless):
// 11 or 13 contexts.
inline constexpr std::size_t max_get_sop_classes = 2;

struct get_options {
  const std::atomic<bool>* stop = nullptr;    // raised: the C-GET is cancelled
  const get_observer* observer = nullptr;     // told about each object
  // SOP Class UIDs of the objects asked for, e.g. from an image-level C-FIND (SOPClassUID):
  // proposed max_get_sop_classes per association. Empty (unknown) or not UIDs: the fixed
  // fallback list is proposed.
  std::vector<std::string> sop_classes;
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
  // this association (C-STORE sub-operations) and can only send an object on a presentation
  // context we proposed for its SOP class. A C-GET association proposes the GET context and
  // storage contexts, never more than max_presentation_contexts: options.sop_classes two per
  // association (a lone class with every transfer syntax we read); when the classes are unknown
  // (empty or not UIDs), a fixed list of 18 common storage classes (CT, MR, CR, DX, MG, US, XA,
  // XRF, PET, NM, SC, RT Dose and enhanced forms), two per association. While a C-GET ends with
  // failed sub-operations, the objects still missing are asked for again on a new association
  // with the next classes (the fallback pair that worked is tried first next time), until every
  // object arrived or no further association brings one. An open association that did not
  // propose what this call needs is replaced by a new one.
  // A UID list that the PACS answers with Success and 0 sub-operations (some PACS do not match
  // lists in C-GET/C-MOVE) is asked again one UID per request, and this client sends one UID
  // per request from then on; "nothing matched" only if no single UID matched.
  // Each object is written into `dest_dir` byte for byte as received, named
  // <SOPInstanceUID>.dcm. A partial file is never left behind.
  // options.stop, if given, is polled between objects (cancelled). options.observer, if given,
  // hears about each object, also when the call fails later.
  // Extra errors: not_found (nothing matched), io_error (dest_dir not writable, or an object
  // could not be written or was refused), malformed_input (an object received into memory is
  // not DICOM), unavailable (the PACS reported failed sub-operations; the message
  // names the classes the PACS refused to negotiate, if any). Files received before an error
  // stay (the observer or the names tell which).
  result<retrieve_report> get(const dicom_query& identifiers, const std::filesystem::path& dest_dir,
                              const get_options& options = {});

  // C-MOVE of `identifiers` to ourselves: starts an in-process C-STORE SCP listening on
  // settings.store_address:store_port only (AE title settings.calling_ae_title, accepting only
  // the PACS's host), asks the PACS to move there, and stops the SCP when the move completes. The PACS must know
  // our AE title with that host and port. Files land in `dest_dir` as received. A UID list the
  // PACS does not match is asked again one UID per request, as for get().
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
