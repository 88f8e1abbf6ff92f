// The site's identity on disk: its TLS certificate and key, the consortium CA certificate, the
// Ed25519 DHT key, the X25519 sealing key and the storage key. <data_dir>/identity/ has the
// layout that `dm2 ca issue-site` writes, so an identity issued by the consortium is installed
// by copying that directory there. On first start with no identity/ and no [tls] paths, a
// development consortium of one is created (its CA and roster key in <data_dir>/ca/, and a
// roster listing this site alone in <data_dir>/ca/roster.json). After
// that every file must be there: a missing key is an error, never regenerated (a new key would
// be a new site) — except storage.key, which belongs to the local database and is created when
// absent.
//
// Layout (keys 0600, refused if group/world readable):
//   <data_dir>/ca/ca.key, ca.crt, consortium.key, consortium.pub,
//                 roster.json                                      development consortium only
//   <data_dir>/identity/ca.crt, site.key, site.crt                  TLS (unless [tls] is set)
//   <data_dir>/identity/dht.key, dht.pub, seal.key, seal.pub, storage.key
#pragma once

#include <filesystem>
#include <string>

#include "dm2/node/config.hpp"
#include "dm2/result.hpp"

namespace dm2::node {

struct site_identity {
  std::string ca_certificate_pem;
  std::string certificate_pem;
  std::string private_key_pem;
  std::string certificate_fingerprint;  // SHA-256 hex, as listed in the roster
  std::string dht_key_pem;              // Ed25519 private key
  std::string dht_public_key;           // its raw 32 bytes
  std::string sealing_key_pem;          // X25519 private key
  std::string storage_key;              // 32 raw bytes, encrypts values at rest
  bool created = false;                 // true when this call created it
  // Development consortium only: its roster (this site alone) and its raw roster key, which the
  // node adopts when [consortium] is not configured.
  std::filesystem::path dev_roster;
  std::string dev_consortium_public_key;
};

// Loads the identity, creating it on first start as described above. `data_dir` must exist.
// Errors: insecure_file, not_found (an incomplete identity, naming the missing file),
// permission_denied (the certificate does not verify against the CA, or has expired),
// io_error, crypto_failure.
result<site_identity> load_or_create_identity(const node_config& config);

}  // namespace dm2::node
