#include "multipart.hpp"

#include "dm2/crypto/hash.hpp"

namespace dm2::node {

multipart_body multipart_related(std::vector<std::string> parts, const std::string& part_type) {
  std::string boundary;
  bool clash = true;
  while (clash) {
    boundary = "dm2-" + crypto::to_hex(crypto::random_bytes(16));
    clash = false;
    for (const auto& p : parts) clash = clash || p.find(boundary) != std::string::npos;
  }
  std::size_t total = boundary.size() + 8;
  for (const auto& p : parts) total += p.size() + boundary.size() + part_type.size() + 64;
  multipart_body out;
  out.content_type = "multipart/related; type=\"" + part_type + "\"; boundary=" + boundary;
  out.body.reserve(total);
  for (auto& p : parts) {
    out.body += "--" + boundary + "\r\nContent-Type: " + part_type +
                "\r\nContent-Length: " + std::to_string(p.size()) + "\r\n\r\n";
    out.body += p;
    out.body += "\r\n";
    std::string().swap(p);
  }
  out.body += "--" + boundary + "--\r\n";
  return out;
}

}  // namespace dm2::node
