// An index record: what the consortium may search about one series (personal, not identifying).
// Named by its LFN (a random 128-bit pseudonym), versioned, signed by its owner site.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::storage {

inline constexpr std::size_t lfn_size = 16;

// Limits enforced by validate() and decode_index_record(); records from peers are untrusted.
struct index_record_limits {
  static constexpr std::size_t owner_site = 64;              // [A-Za-z0-9._-], not empty
  static constexpr std::size_t modality = 16;                // DICOM CS (0008,0060)
  static constexpr std::size_t body_part = 64;               // (0018,0015)
  static constexpr std::size_t manufacturer = 64;            // (0008,0070)
  static constexpr std::size_t age_band = 16;                // e.g. "040-049"
  static constexpr std::size_t signature = 4 * 1024 * 1024;  // similarity signature blob
  static constexpr std::size_t owner_signature = 128;        // Ed25519 is 64
  static constexpr std::size_t diagnoses = 16;               // per series
  static constexpr std::size_t diagnosis_code = 8;           // ICD-10: "I21.4", "Q21.10"
  static constexpr std::size_t encoded = 8 * 1024 + signature + owner_signature;
};

struct index_attributes {
  std::string modality;      // "CT", "MR"...; empty = unknown
  std::string body_part;     // "CHEST"...
  std::string manufacturer;  // "SIEMENS"...
  std::string study_date;    // YYYYMMDD or empty
  std::string series_date;   // YYYYMMDD or empty
  std::string sex;           // "M", "F", "O" or empty
  std::string age_band;      // coarse band, never an exact age or birth date
  bool operator==(const index_attributes&) const = default;
};

// A diagnosis recorded for the series by a physician of the owning site (docs/security.md): its
// code travels with the record; its free text, if any, stays at the owner (has_text says so).
struct diagnosis {
  std::string code;         // ICD-10 shape (valid_diagnosis_code), or "" when text only
  std::string recorded_on;  // YYYYMMDD (a day: the record says no more about when)
  bool has_text = false;    // the owner keeps a free text for it
  bool operator==(const diagnosis&) const = default;
};

// An ICD-10 code by shape (not against the classification): a letter A-Z, two digits, then
// optionally "." and 1 to 4 digits or capitals ("I21", "I21.4", "Q21.10"). Also what a query
// filter may name: a 3-character category matches every code under it.
bool valid_diagnosis_code(std::string_view code);
// The category of a valid code: its first 3 characters ("I21.4" -> "I21").
inline std::string_view diagnosis_category(std::string_view code) { return code.substr(0, 3); }

struct index_record {
  std::string lfn;              // exactly lfn_size raw bytes
  std::uint64_t version = 0;    // raised by the owner on every change
  std::string owner_site;       // roster site id of the owner
  index_attributes attributes;
  std::string signature;        // opaque similarity signature (normalized volume)
  std::string owner_signature;  // owner's signature over signed_payload(); opaque here
  std::vector<diagnosis> diagnoses;  // at most index_record_limits::diagnoses, oldest first
  bool operator==(const index_record&) const = default;
};

// Errors: malformed_input naming the first bad field (size, characters, date, a diagnosis code
// not of ICD-10 shape, a diagnosis with neither code nor text, more than 16 diagnoses).
status validate(const index_record& r);

// Compact binary form (docs/storage.md): format 1 without diagnoses (the bytes records had before
// diagnoses existed, so their signatures still verify), format 2 with. Precondition: validate(r).
std::string encode_index_record(const index_record& r);
// Strict inverse of encode_index_record: wrong format byte, a field over its limit, a bad date,
// truncation or trailing bytes -> malformed_input. Never reads past `bytes`.
result<index_record> decode_index_record(std::string_view bytes);

// The bytes an owner signs: the encoding with an empty owner signature.
std::string signed_payload(const index_record& r);

// Last-writer-wins order: true when `a` must replace `b` — a higher version, or the same version
// and a bytewise greater owner signature (a deterministic tiebreak every replica agrees on).
bool supersedes(const index_record& a, const index_record& b);

}  // namespace dm2::storage
