// What the `dm2 ca` and `dm2 roster` commands do, as functions (the CLI files only parse options
// and print). Every write is atomic; private keys are 0600 and never overwritten.
//
// Consortium directory (ca init):  ca.key (0600), ca.crt, consortium.key (0600, Ed25519 roster
//                                  signing key), consortium.pub (hex of its raw public key)
// Site directory (ca issue-site):  site.key (0600), site.crt, dht.key (0600, Ed25519),
//                                  seal.key (0600, X25519), dht.pub, seal.pub (hex), ca.crt
// The site directory is handed to the site; the roster admin needs only its public files.
// Thread-safe in the sense that functions share no state; concurrent edits of one roster file
// are the caller's problem (last writer wins).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "dm2/crypto/roster.hpp"
#include "dm2/crypto/x509.hpp"
#include "dm2/result.hpp"

namespace dm2::crypto {

// Creates the consortium directory (mode 0700 if new). Errors: invalid_argument (name),
// conflict (a file already there: keys are never replaced), io_error, crypto_failure.
status init_consortium(const std::filesystem::path& dir, std::string_view consortium_name,
                       int valid_days = 3650);

// Reads a consortium's raw roster-signing public key from <dir>/consortium.pub.
// Errors: not_found, malformed_input, io_error.
result<std::string> read_consortium_public_key(const std::filesystem::path& ca_dir);

struct issued_site {
  std::string certificate_sha256;  // hex
  std::string dht_public_key;      // raw 32 bytes
  std::string sealing_public_key;  // raw 32 bytes
};

// Issues a site's identity into `out_dir` (created 0700 if absent) with the CA in `ca_dir`.
// Errors: those of issue_site_certificate; not_found/insecure_file (CA files), conflict
// (a file already in out_dir), io_error.
result<issued_site> issue_site(const std::filesystem::path& ca_dir,
                               const site_certificate_request& request,
                               const std::filesystem::path& out_dir);

struct roster_entry_request {
  std::filesystem::path site_dir;  // an issue_site output (public files are enough)
  std::string site_id;             // empty: the certificate's CN, lower-cased, spaces to '-'
  std::string name;                // empty: the certificate's CN
  std::string https_endpoint;      // "IP:port" (dm2/crypto/endpoint.hpp)
  std::string dht_endpoint;        // "IP:port"
  std::int64_t expires_at = 0;     // 0: when the site certificate expires
};

// Builds a roster entry from a site directory. Errors: not_found, malformed_input, io_error.
result<site_entry> site_entry_from_dir(const roster_entry_request& request);

// Reads a roster file, signed or draft, without checking the signature.
// Errors: not_found, io_error, malformed_input, too_large.
result<roster_document> load_roster_file(const std::filesystem::path& path);

// Adds a site to the roster file (created as a draft if absent, for `consortium_name`; empty
// name: taken from the site certificate's issuer CN without its " CA" suffix). The file becomes
// an unsigned draft until signed. Errors: those above; conflict (site id, certificate or key
// already listed), invalid_argument (an entry field out of limits).
result<site_entry> roster_add(const std::filesystem::path& roster_path,
                              const roster_entry_request& request,
                              std::string_view consortium_name = {});

// Removes a site from the roster file (which becomes a draft). Errors: not_found (no such
// site or file), malformed_input, io_error.
status roster_remove(const std::filesystem::path& roster_path, std::string_view site_id);

// Signs the roster file with <ca_dir>/consortium.key: version + 1, issued_at = now.
// Errors: invalid_argument (the roster names another consortium than the CA), those above.
result<roster> roster_sign(const std::filesystem::path& roster_path,
                           const std::filesystem::path& ca_dir, std::int64_t now);

// A human-readable listing; `verified` says whether the signature was checked and holds.
std::string describe_roster(const roster& r, bool signed_and_verified, std::int64_t now);

}  // namespace dm2::crypto
