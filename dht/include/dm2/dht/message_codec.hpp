// The wire form of the replication and query messages, for transports that carry bytes (the
// node's mutual-TLS HTTPS transport: POST /v1/overlay/message with this as the body).
//
//   message = version(u8 = 1) type(u8 = index in dht::message) fields...
//   u32/u64 big-endian; string = u32 length + bytes; list = u32 count + elements;
//   double = its IEEE-754 bits as u64; bool = u8 0/1.
//
// Decoding is strict: every byte must be consumed, counts and lengths are bounded before
// anything is allocated, and any violation is malformed_input. Thread-safe (pure functions).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "dm2/dht/messages.hpp"
#include "dm2/result.hpp"

namespace dm2::dht {

struct codec_limits {
  std::size_t max_message_bytes = 16 * 1024 * 1024;  // whole encoded message
  std::size_t max_list_items = 100'000;              // any one list
  std::size_t max_string_bytes = 1024 * 1024;        // any one string
};

std::string encode_message(const message& m);
// Errors: too_large (over max_message_bytes), malformed_input (truncated, trailing bytes,
// unknown version or type, a list or string over its limit, a bool not 0/1).
result<message> decode_message(std::string_view bytes, const codec_limits& limits = {});

// One key share on its own (how a holder stores it): version(u8 = 1) then the share's fields as
// in push_shares. Errors of decode_key_share: malformed_input (truncated, trailing bytes, unknown
// version, a string over its limit).
std::string encode_key_share(const key_share& s);
result<key_share> decode_key_share(std::string_view bytes, const codec_limits& limits = {});

}  // namespace dm2::dht
