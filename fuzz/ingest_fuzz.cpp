// libFuzzer target: the ingest body of POST /v1/records (node/src/records.hpp, parse_ingest) on
// arbitrary bytes. Property checked beyond "no crash, no sanitizer report": whatever is accepted
// is a record storage::validate accepts once the node has set its version and owner (the body
// is the only untrusted part).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dm2/storage/index_record.hpp"
#include "records.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto r = dm2::node::parse_ingest(input); r.ok()) {
    auto record = *r;
    record.version = 1;
    record.owner_site = "site-1";
    record.owner_signature = std::string(64, 's');
    if (!dm2::storage::validate(record).ok()) std::abort();
    (void)dm2::node::record_json(record);
  }
  return 0;
}
