// libFuzzer target: roster decoding (dm2/crypto/roster.hpp) on arbitrary bytes.
// Properties checked beyond "no crash, no sanitizer report":
// - whatever decode_roster_document accepts re-encodes to exactly the input (canonical form);
// - its body decodes on its own to the same roster;
// - verify_roster never accepts input under a key nobody holds.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/roster.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dm2::crypto;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto doc = decode_roster_document(input); doc.ok()) {
    auto again = encode_roster_document(*doc);
    if (!again.ok() || *again != input) std::abort();
    auto body = encode_roster(doc->body);
    if (!body.ok()) std::abort();
    auto decoded = decode_roster(*body);
    if (!decoded.ok() || !(*decoded == doc->body)) std::abort();
    (void)roster_hash(doc->body);
  }
  (void)decode_roster(input);

  // A public key nobody holds the private half of (a hash output, not a generated key).
  static const std::string unknown_key = sha256("dm2 roster fuzz: nobody holds this key");
  if (verify_roster(input, unknown_key).ok()) std::abort();
  return 0;
}
