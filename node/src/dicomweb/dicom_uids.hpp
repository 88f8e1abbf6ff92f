// The pseudonymous UIDs under which DICOMweb shows a series (docs/dicomweb.md, "Identifiers"):
// derived from its LFN alone, so every site names an indexed series alike and a UID in a WADO-RS
// path leads back to the LFN without any lookup. The index never says that two series belong to
// one study or one patient, so each series is shown as a study of its own:
//   StudyInstanceUID  2.25.<the LFN's 128 bits as a decimal integer>
//   SeriesInstanceUID 2.25.<the same>.1
// (2.25 is the UUID arc of ISO/IEC 9834-8; the LFN is 128 random bits like a version-4 UUID's).
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dm2::node::dicomweb {

// `lfn_hex`: 32 lowercase hex digits.
std::string study_uid_of(std::string_view lfn_hex);
std::string series_uid_of(std::string_view lfn_hex);

// The LFN (32 lowercase hex digits) a study or series UID of that form names; nullopt for any
// other UID (another form, a number over 128 bits, a leading zero).
std::optional<std::string> lfn_of_study(std::string_view uid);
std::optional<std::string> lfn_of_series(std::string_view uid);

// A UID by the grammar of PS3.5 9.1: 1..64 characters, components of digits separated by '.',
// no leading zero in a component of more than one digit.
bool valid_uid(std::string_view uid);

}  // namespace dm2::node::dicomweb
