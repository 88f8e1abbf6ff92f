// The similarity query's body (docs/api.md, "Queries"): what a clinician's request asks, parsed
// strictly, and its canonical JSON — the exact bytes the home node signs and every site parses.
// Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/result.hpp"
#include "dm2/storage/query.hpp"

namespace dm2::node {

struct query_limits {
  static constexpr std::size_t max_body_bytes = 128 * 1024;        // POST /v1/queries body
  // A query by an uploaded NIfTI volume ("nifti", base64): the raw file at most 8 MiB (e.g.
  // 128^3 float32 or 256^2 x 64 int16), its body at most 12 MiB (base64 is 4/3), under the
  // server's 16 MiB request limit; at most 2^24 voxels once read.
  static constexpr std::size_t max_upload_bytes = 8 * 1024 * 1024;
  static constexpr std::size_t max_upload_body_bytes = 12 * 1024 * 1024;
  static constexpr std::size_t max_upload_voxels = std::size_t{1} << 24;
  // A query by an uploaded DICOM series ("dicom": its instances, each in base64): the same
  // bounds on the files together, and at most this many files.
  static constexpr std::size_t max_upload_files = 1024;
  // A DICOM UID (pacs_series): digits and dots, at most 64 characters (PS3.5 9.1).
  static constexpr std::size_t max_uid = 64;
  // Raw, = 16,384 float32 samples: a record over the replication payload limit (64 KiB) never
  // reaches the overlay, so a longer query signature could match no record.
  static constexpr std::size_t max_signature_bytes = 64 * 1024;
  static constexpr std::size_t max_text = 256;                     // user, purpose
  static constexpr std::size_t default_top_k = 20;
  static constexpr std::size_t max_top_k = 1000;
  static constexpr std::chrono::milliseconds default_timeout{5000};
  static constexpr std::chrono::milliseconds max_timeout{60000};
  static constexpr std::size_t default_stage_two_depth = 10;  // a query by series
  static constexpr std::size_t max_stage_two_depth = 100;
};

struct query_body {
  storage::index_filter filters;  // `limit` unused
  std::string signature;          // raw bytes: little-endian float32 samples; empty = none
  std::string measure = "ncc";    // stage 1: NCC of signatures, the only one a site runs on records
  std::size_t top_k = query_limits::default_top_k;
  // Who asks and why: for a signed-in user, his pseudonym and his role's purpose (set by the home
  // node); free text from a site certificate. Carried to every site inside the signed body; never
  // logged or audited (free text may be nominative).
  std::string user;
  std::string purpose;
};

// A client's submission: the body plus how long to wait for answers, or, instead of a signature,
// one of this site's own series to query by: `lfn` (the home node takes its record's signature;
// stage 1 only) or `by_series` (the home node opens the series' volume: signature and query
// volume, and a stage 2 at the candidates' owners with `measure`), or `pacs_series` (the same,
// the series named by its original UIDs at this site's PACS), or `nifti` / `dicom` (the same
// from an uploaded volume or DICOM series).
struct query_submission {
  query_body body;
  std::chrono::milliseconds timeout = query_limits::default_timeout;
  std::string lfn;        // "" or 32 lowercase hex digits
  std::string by_series;  // "" or 32 lowercase hex digits
  std::string nifti;      // an uploaded NIfTI-1 volume (raw bytes), or ""; never stored
  std::vector<std::string> dicom;  // an uploaded DICOM series: its instances (raw bytes), or none
  // The original Series (and optionally Study) Instance UID at this site's PACS, or "": nominative,
  // never logged.
  std::string pacs_series_uid, pacs_study_uid;
  std::string measure = "ncc";  // stage 2's: a name in similarity::measure_registry::builtin()
  std::string measure_version;  // "" = the newest registered
  std::size_t stage_two_depth = 0;  // by_series: default_stage_two_depth unless given

  // A query by image: stage 2 follows stage 1.
  bool by_image() const { return !by_series.empty() || !nifti.empty() || !dicom.empty() || !pacs_series_uid.empty(); }
};

// Parses POST /v1/queries. Errors: too_large (over max_body_bytes, or max_upload_body_bytes /
// max_upload_bytes with "nifti" or "dicom", more than max_upload_files instances),
// malformed_input (not a JSON object), invalid_argument naming the first bad field (unknown
// field, wrong type, a value over its limit, a bad date, top_k, timeout_ms or stage2_depth out of
// range, a measure or version the registry does not have, a measure other than ncc or a
// stage2_depth without a query by image, more than one of signature, signature_hex, lfn,
// by_series, pacs_series, nifti and dicom, nifti or an instance not base64 or empty, dicom not a
// non-empty array, a pacs_series UID not a DICOM UID, a signature not a whole number of float32
// samples, an lfn not 32 hex digits).
result<query_submission> parse_query_submission(std::string_view json);
// Parses a canonical body as received from a peer: the same rules, without timeout_ms, lfn,
// by_series, measure_version and stage2_depth; the measure is "ncc".
result<query_body> parse_query_body(std::string_view json);
// Canonical JSON: keys sorted, defaults spelled out, the signature in base64, no timeout.
std::string canonical_json(const query_body& body);

}  // namespace dm2::node
