// libFuzzer target: storage record decoding (dm2/storage/index_record.hpp, audit.hpp) on
// arbitrary bytes. Index records arrive from peers (replication) and audit entries are read back
// from disk; both decoders must refuse garbage cleanly. Properties checked beyond "no crash, no
// sanitizer report":
// - whatever a decoder accepts re-encodes to exactly the input (one encoding per value), and
//   passes validation;
// - an accepted index record never supersedes itself, and its signed payload differs from the
//   encoding only in the owner signature.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dm2/storage/audit.hpp"
#include "dm2/storage/index_record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dm2::storage;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto r = decode_index_record(input); r.ok()) {
    if (encode_index_record(*r) != input) std::abort();
    if (!validate(*r).ok()) std::abort();
    if (supersedes(*r, *r)) std::abort();
    auto unsigned_copy = *r;
    unsigned_copy.owner_signature = "x";
    if (signed_payload(unsigned_copy) != signed_payload(*r)) std::abort();
  }
  if (auto e = decode_audit_entry(input); e.ok()) {
    if (encode_audit_entry(*e) != input) std::abort();
    if (!validate(e->event).ok()) std::abort();
    (void)chain_hash(*e);
  }
  return 0;
}
