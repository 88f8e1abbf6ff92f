// DCMTK glue shared by the pacs sources (internal: never included by a public header).
#pragma once

#include <dcmtk/config/osconfig.h>  // must come first with DCMTK
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/ofstd/oflist.h>

#include <string>
#include <vector>

#include "dm2/pacs/dicom_query.hpp"
#include "dm2/result.hpp"

namespace dm2::pacs::detail {

// Registers DCMTK's JPEG, JPEG-LS and RLE decoders once per process; they are cleaned up at
// exit. Thread-safe.
void ensure_codecs_registered();

// Silences DCMTK's own logger (it would print patient data at debug level) unless
// DM2_DCMTK_LOG is set, and turns Nagle's algorithm off for DCMTK sockets. Call before any
// DCMTK network use. Thread-safe, idempotent.
void init_dcmtk();

// The tag of a DICOM keyword ("PatientID"). Errors: invalid_argument.
result<DcmTagKey> tag_of(const std::string& keyword);

// The keyword of a tag, or "(gggg,eeee)" when the dictionary does not know it.
std::string keyword_of(const DcmTagKey& tag);

// Storage SOP classes we negotiate for C-GET / accept for C-MOVE.
const std::vector<const char*>& storage_sop_classes();

// Transfer syntax groups we propose, one presentation context each: uncompressed
// (explicit LE, implicit LE, explicit BE) first, then one compressed syntax per context.
const std::vector<OFList<OFString>>& transfer_syntax_groups();

// Every transfer syntax above, compressed ones first (what an acceptor prefers).
OFList<OFString> all_transfer_syntaxes();

// True if `uid` is a syntactically valid UID (digits and dots, 1..64 chars, no empty
// component): only such UIDs are used to name files.
bool is_valid_uid(const std::string& uid);

// A DICOM string attribute of `item`, "" if absent.
std::string get_string(DcmItem& item, const DcmTagKey& tag, unsigned long pos = 0);
// All values of a multi-valued string attribute joined with '\'.
std::string get_all_strings(DcmItem& item, const DcmTagKey& tag);

}  // namespace dm2::pacs::detail
