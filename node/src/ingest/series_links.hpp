// The sealed nominative link of each ingested series (docs/ingest.md, "LFNs"), in the
// database's nominative family (encrypted at rest with the storage key):
//   "series/" + hex(HMAC-SHA256(storage key, "dm2 series link v1" || original series UID))
//       -> the lookup: LFN, committed version, instance count, instance fingerprint
//   "link/" + LFN hex
//       -> AES-256-GCM under the series key of the nominative link itself (patient ID and name,
//          accession number, original study and series UIDs, the de-identification's record of
//          what it removed, the re-assembly's manifest): readable only with the series key, i.e. by the owner or t holders.
// The lookup key is a keyed hash: no stored key names an original UID, and without the storage
// key nothing links an LFN to a patient. Thread-safe (the database is).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dm2/result.hpp"
#include "dm2/storage/database.hpp"
#include "dm2/storage/transaction.hpp"

namespace dm2::node {

struct series_lookup {
  std::string lfn_hex;
  std::uint64_t version = 0;
  std::uint64_t instances = 0;
  std::string fingerprint;  // hex SHA-256 of the sorted SOP Instance UIDs
};

// What a re-assembly needs to seal and serve an evicted series instance by instance while the
// PACS sends it (docs/ingest.md, "Cache"): each instance's original SOP Instance UID (so it is
// nominative, and kept in the sealed link) and de-identified size, in slice order, and the
// NIfTI volume's size. Empty for a series ingested before the manifest existed.
struct series_manifest {
  std::vector<std::pair<std::string, std::uint64_t>> instances;  // (SOP Instance UID, bytes)
  std::uint64_t volume_bytes = 0;
};

struct nominative_link {
  std::string patient_id, patient_name, accession_number, study_uid, series_uid;
  std::string removed_json;  // the de-identification's nominative record (DICOM JSON)
  series_manifest manifest;
};

class series_links {
 public:
  series_links(storage::database& db, std::string storage_key) : db_(db), key_(std::move(storage_key)) {}

  // Errors: those of database::get, malformed_input (a stored lookup does not decode).
  result<std::optional<series_lookup>> find(const std::string& series_uid) const;
  void put_lookup(storage::transaction& t, const std::string& series_uid, const series_lookup& l) const;
  // Errors: crypto_failure.
  status put_link(storage::transaction& t, const std::string& lfn_hex, const std::string& series_key,
                  const nominative_link& link) const;
  // The opaque reference of a patient at this site (what a patient account and a care team are
  // keyed by): hex(HMAC-SHA256(storage key, "dm2 patient ref v1" || patient ID)), 32 digits.
  // Nothing outside the site can compute it; the ID itself is never stored for it.
  std::string patient_ref(const std::string& patient_id) const;
  // The link of `lfn_hex`, opened with the series key. nullopt when absent.
  // Errors: integrity_failure (wrong key), those of database::get.
  result<std::optional<nominative_link>> read_link(const std::string& lfn_hex, const std::string& series_key) const;

 private:
  std::string lookup_key(const std::string& series_uid) const;
  storage::database& db_;
  std::string key_;
};

}  // namespace dm2::node
