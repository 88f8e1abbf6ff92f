// libFuzzer target: the overlay's peer message codec (dm2/dht/message_codec.hpp) on arbitrary
// bytes. Every message a peer POSTs to /v1/overlay/message goes through decode_message first.
// Properties checked beyond "no crash, no sanitizer report": the encoding is strict (every field
// fixed-width or length-prefixed, bools 0/1), so whatever a decoder accepts re-encodes to
// exactly the input.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "dm2/dht/message_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace dm2::dht;
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  if (auto m = decode_message(input); m.ok()) {
    if (encode_message(*m) != input) std::abort();
    (void)message_name(*m);
  }
  if (auto s = decode_key_share(input); s.ok()) {
    if (encode_key_share(*s) != input) std::abort();
  }
  return 0;
}
