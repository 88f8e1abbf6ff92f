// Consortium accreditation: a consortium CA, site certificates it issues, and their checks.
// Keys and certificates cross this API as PEM text so no OpenSSL type leaks out.
// All functions are thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dm2/result.hpp"

namespace dm2::crypto {

struct key_and_certificate {
  std::string key_pem;          // PKCS#8 private key
  std::string certificate_pem;  // X.509 certificate
};

struct site_certificate_request {
  std::string site_name;                  // becomes the subject CN; [A-Za-z0-9._-], 1..64 chars
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries (IPv4 or IPv6 text)
  int valid_days = 825;
};

// Creates a consortium CA: an ECDSA P-256 key and a self-signed certificate
// (basicConstraints CA:TRUE, pathlen 0; keyCertSign, cRLSign). Errors: invalid_argument, crypto_failure.
result<key_and_certificate> create_ca(std::string_view consortium_name, int valid_days = 3650);

// Issues a site certificate signed by `ca`: a fresh ECDSA P-256 key (TLS needs a curve every
// browser accepts), CA:FALSE, digitalSignature, serverAuth + clientAuth (sites are both ends of
// mutual TLS). Errors: invalid_argument (bad name or address), crypto_failure.
result<key_and_certificate> issue_site_certificate(const key_and_certificate& ca,
                                                   const site_certificate_request& request);

struct certificate_info {
  std::string subject_common_name;
  std::string issuer_common_name;
  std::string sha256_fingerprint;  // lowercase hex of SHA-256 over the DER encoding
  std::int64_t not_before = 0;     // seconds since the epoch
  std::int64_t not_after = 0;
  bool is_ca = false;
};

// Parses one PEM certificate. Errors: malformed_input.
result<certificate_info> inspect_certificate(std::string_view certificate_pem);

// Checks that `certificate_pem` chains to `ca_certificate_pem`, is valid at `at_time` (seconds
// since the epoch; 0 = now) and may be used as a site certificate (not a CA; serverAuth and
// clientAuth). Errors: malformed_input, permission_denied (with the reason: expired, not issued
// by this CA, wrong key usage).
status verify_site_certificate(std::string_view certificate_pem,
                               std::string_view ca_certificate_pem, std::int64_t at_time = 0);

// Checks that `key_pem` is the private key of `certificate_pem`. Errors: malformed_input,
// integrity_failure.
status check_key_matches_certificate(std::string_view key_pem, std::string_view certificate_pem);

}  // namespace dm2::crypto
