// An index record: what the consortium may search about one series (personal, not identifying).
// Named by its LFN (a random 128-bit pseudonym), versioned, signed by its owner site.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

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

struct index_record {
  std::string lfn;              // exactly lfn_size raw bytes
  std::uint64_t version = 0;    // raised by the owner on every change
  std::string owner_site;       // roster site id of the owner
  index_attributes attributes;
  std::string signature;        // opaque similarity signature (normalized volume)
  std::string owner_signature;  // owner's signature over signed_payload(); opaque here
  bool operator==(const index_record&) const = default;
};

// Errors: malformed_input naming the first bad field (size, characters, date).
status validate(const index_record& r);

// Compact binary form (docs/storage.md). Precondition: validate(r) succeeded.
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
