// DCMTK glue shared by the pacs sources (internal: never included by a public header).
#pragma once

#include <dcmtk/config/osconfig.h>  // must come first with DCMTK
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/ofstd/oflist.h>

#include <cstddef>
#include <memory>
#include <string_view>
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

// A C-GET association proposes the GET context, then one context per (storage SOP class,
// transfer-syntax group), within max_presentation_contexts (dicom_client.hpp).

// Transfer syntax groups a C-GET proposes for a class it knows it will receive, one
// presentation context each: uncompressed (explicit LE, implicit LE, explicit BE) first, then
// one compressed syntax per context (transfer_syntax_group_count of them).
inline constexpr std::size_t transfer_syntax_group_count = 10;
const std::vector<OFList<OFString>>& transfer_syntax_groups();

// Every transfer syntax above and JPEG 2000 lossy, compressed ones first (what an acceptor
// prefers).
OFList<OFString> all_transfer_syntaxes();

// What a C-GET proposes when it does not know the classes it will receive: 18 common storage
// SOP classes (CT, MR, CR, DX, MG, US, XA, XRF, PET, NM, SC, RT Dose and enhanced or
// multi-frame forms) with 6 of the groups above each (uncompressed, JPEG baseline, JPEG
// lossless SV1, JPEG-LS lossless, RLE, JPEG 2000 lossless): 108 storage contexts in all, so
// they are proposed a few classes per association.
inline constexpr std::size_t fallback_transfer_syntax_group_count = 6;
const std::vector<const char*>& fallback_sop_classes();
const std::vector<OFList<OFString>>& fallback_transfer_syntax_groups();

// Every storage SOP class DCMTK knows (dcmAllStorageSOPClassUIDs): what our C-MOVE
// destination accepts (each association against a profile of the classes it proposes).
std::vector<const char*> all_storage_sop_classes();

// The name of a SOP class UID ("CR Image Storage"), or the UID itself when DCMTK does not
// know it.
std::string sop_class_name(const std::string& uid);

// True if `uid` is a syntactically valid UID (digits and dots, 1..64 chars, no empty
// component): only such UIDs are used to name files.
bool is_valid_uid(const std::string& uid);

// The Part 10 file `dicom`, held in memory, parsed whole. Errors: malformed_input (not DICOM).
result<std::unique_ptr<DcmFileFormat>> read_part10(std::string_view dicom);
// The same into `ff`, with DCMTK's condition.
OFCondition parse_part10(DcmFileFormat& ff, std::string_view dicom);

// `ff` encoded in `xfer` into `out` (replaced) exactly as DcmFileFormat::saveFile(path, xfer)
// writes it to a file (sequences of undefined length, group lengths recalculated, a new meta
// header), a deflated dataset included. Errors: internal (DCMTK cannot encode it).
status write_part10(DcmFileFormat& ff, E_TransferSyntax xfer, std::string& out);

// A DICOM string attribute of `item`, "" if absent.
std::string get_string(DcmItem& item, const DcmTagKey& tag, unsigned long pos = 0);
// All values of a multi-valued string attribute joined with '\'.
std::string get_all_strings(DcmItem& item, const DcmTagKey& tag);

}  // namespace dm2::pacs::detail
