// libFuzzer target: the similarity query's body (node/src/query_body.hpp) on arbitrary bytes.
// A clinician's POST /v1/queries body and every peer's query_request body are parsed here.
// Properties checked beyond "no crash, no sanitizer report":
// - an accepted body's canonical JSON parses again, to a body with the same canonical JSON
//   (what the home node signs is what every site reads);
// - an accepted submission's body passes the peer-side parser through its canonical JSON.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "query_body.hpp"

namespace {
void check_canonical(const dm2::node::query_body& body) {
  const std::string canonical = dm2::node::canonical_json(body);
  auto again = dm2::node::parse_query_body(canonical);
  if (!again.ok() || dm2::node::canonical_json(*again) != canonical) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto s = dm2::node::parse_query_submission(input); s.ok()) check_canonical(s->body);
  if (auto b = dm2::node::parse_query_body(input); b.ok()) check_canonical(*b);
  return 0;
}
