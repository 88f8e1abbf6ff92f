// dm2's one table of error codes. Every module boundary returns dm2::result<T>; the code says
// what kind of failure it was, the HTTP status a surface should answer with, and a short text.
// (It lives in crypto/, the one module every other module depends on.)
#pragma once

#include <string>
#include <string_view>

namespace dm2 {

// X(name, http_status, text)
#define DM2_ERROR_CODES(X)                                              \
  X(invalid_argument, 400, "invalid argument")                         \
  X(invalid_config, 400, "invalid configuration")                      \
  X(malformed_input, 400, "malformed input")                           \
  X(unauthenticated, 401, "not authenticated")                         \
  X(permission_denied, 403, "permission denied")                       \
  X(not_found, 404, "not found")                                       \
  X(conflict, 409, "conflict")                                         \
  X(stale_version, 409, "stale version")                               \
  X(too_large, 413, "too large")                                       \
  X(unsupported, 415, "unsupported")                                   \
  X(integrity_failure, 422, "integrity check failed")                  \
  X(insecure_file, 500, "file permissions too open")                   \
  X(io_error, 500, "I/O error")                                        \
  X(crypto_failure, 500, "cryptographic operation failed")             \
  X(storage_failure, 500, "storage failure")                           \
  X(internal, 500, "internal error")                                   \
  X(unavailable, 503, "unavailable")                                   \
  X(timeout, 504, "timed out")                                         \
  X(cancelled, 499, "cancelled")

enum class errc {
#define DM2_ENUM_ENTRY(name, status, text) name,
  DM2_ERROR_CODES(DM2_ENUM_ENTRY)
#undef DM2_ENUM_ENTRY
};

// The short text of a code ("not found"); never empty.
std::string_view describe(errc code) noexcept;
// The identifier of a code as written in the table ("not_found"), used in JSON error bodies.
std::string_view name_of(errc code) noexcept;
// The HTTP status a surface answers with for this code.
int http_status(errc code) noexcept;

struct error {
  errc code = errc::internal;
  std::string message;  // for people: what failed and why; never nominative data

  // "not found: series 1234 is not in the index"
  std::string to_string() const;
};

}  // namespace dm2
