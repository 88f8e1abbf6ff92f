#include "dm2/crypto/endpoint.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <string>

namespace dm2::crypto {

namespace {

// The canonical text of an IP address (inet_ntop's), or "" if `text` is not one.
std::string canonical_address(const std::string& text, bool v6) {
  unsigned char raw[16];
  char out[INET6_ADDRSTRLEN];
  int family = v6 ? AF_INET6 : AF_INET;
  if (inet_pton(family, text.c_str(), raw) != 1) return {};
  if (!inet_ntop(family, raw, out, sizeof out)) return {};
  return out;
}

}  // namespace

std::string endpoint::to_string() const {
  auto port_text = std::to_string(port);
  return address.find(':') != std::string::npos ? "[" + address + "]:" + port_text
                                                 : address + ":" + port_text;
}

result<endpoint> parse_endpoint(std::string_view text, port_zero zero) {
  auto quoted = "'" + std::string(text.substr(0, 64)) + "'";
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return fail(errc::invalid_argument, quoted + " is not ADDRESS:PORT");
  auto host = text.substr(0, colon);
  bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  if (bracketed) host = host.substr(1, host.size() - 2);
  auto address = canonical_address(std::string(host), bracketed);
  if (address.empty())
    return fail(errc::invalid_argument,
                quoted + ": not an IP address (IPv4, or IPv6 in brackets; host names are refused)");
  if (address == "0.0.0.0" || address == "::")
    return fail(errc::invalid_argument, quoted + ": use an explicit address, not " + address);
  auto port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  bool one_number = ec == std::errc() && end == port_text.data() + port_text.size();
  if (!one_number || port_text.size() > 5 || port > 65535 || (port_text.size() > 1 && port_text[0] == '0'))
    return fail(errc::invalid_argument, quoted + ": port out of range (a number from 1 to 65535)");
  if (port == 0 && zero == port_zero::refused)
    return fail(errc::invalid_argument, quoted + ": port 0 is only for listening addresses");
  return endpoint{address, static_cast<std::uint16_t>(port)};
}

}  // namespace dm2::crypto
