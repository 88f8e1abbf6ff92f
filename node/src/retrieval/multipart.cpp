#include "multipart.hpp"

#include "dm2/crypto/hash.hpp"

namespace dm2::node {

multipart_framing multipart_framing::random(std::string part_type) {
  return {"dm2-" + crypto::to_hex(crypto::random_bytes(16)), std::move(part_type)};
}

std::string multipart_framing::content_type() const {
  return "multipart/related; type=\"" + part_type + "\"; boundary=" + boundary;
}

std::string multipart_framing::part_start(std::uint64_t size) const {
  return "--" + boundary + "\r\nContent-Type: " + part_type + "\r\nContent-Length: " + std::to_string(size) +
         "\r\n\r\n";
}

std::string multipart_framing::closing() const { return "--" + boundary + "--\r\n"; }

}  // namespace dm2::node
