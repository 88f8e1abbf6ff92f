// Plain HTTP request and response values. The TLS server converts Beast's messages to these, so
// routing and handlers are pure functions, testable without sockets.
#pragma once

#include <map>
#include <string>

#include "dm2/error.hpp"

namespace dm2::node {

struct http_request {
  std::string method;                          // "GET", "POST", ...
  std::string target;                          // path and query, as received
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string remote_address;                  // "127.0.0.1"
  std::string peer_certificate_fingerprint;    // SHA-256 hex of a verified client certificate, or ""
};

struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::map<std::string, std::string> headers;
  std::string body;
};

// The JSON error body every surface answers with:
// {"error":{"code":"not_found","message":"..."}} and the code's HTTP status.
http_response error_response(const error& e);

}  // namespace dm2::node
