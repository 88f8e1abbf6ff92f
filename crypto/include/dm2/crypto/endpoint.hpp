// The one spelling of a network endpoint, shared by the roster, the node's config and the
// overlay: "IPv4:port" or "[IPv6]:port", with an explicit address (not 0.0.0.0 or ::).
// Host names are refused: the roster pins the addresses the overlay admits packets from, and
// resolving names would hand that admission to DNS. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "dm2/result.hpp"

namespace dm2::crypto {

struct endpoint {
  std::string address;  // canonical text of an IP address, without brackets
  std::uint16_t port = 0;
  std::string to_string() const;  // "a.b.c.d:p" or "[v6]:p"
};

// Port 0 ("any free port") is for listening addresses only.
enum class port_zero { refused, allowed };

// Errors: invalid_argument, with a message that names what is wrong.
result<endpoint> parse_endpoint(std::string_view text, port_zero zero = port_zero::refused);

}  // namespace dm2::crypto
