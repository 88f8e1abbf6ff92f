// Shared test data: a storage key, an Ed25519 audit signer, sample index records.
#pragma once

#include <string>

#include "dm2/crypto/aead.hpp"
#include "dm2/crypto/hash.hpp"
#include "dm2/crypto/keys.hpp"
#include "dm2/storage/audit.hpp"
#include "dm2/storage/index_record.hpp"

namespace dm2::storage::test {

inline audit_signer make_signer() {
  auto pem = crypto::generate_private_key(crypto::key_type::ed25519);
  auto signer = ed25519_audit_signer(*pem);
  return *signer;
}

inline index_record sample_record(std::string lfn = crypto::random_bytes(lfn_size), std::uint64_t version = 1) {
  index_record r;
  r.lfn = std::move(lfn);
  r.version = version;
  r.owner_site = "site-a";
  r.attributes = {"CT", "CHEST", "SIEMENS", "20240115", "20240115", "F", "040-049"};
  r.signature = std::string(512, '\x2a');
  r.owner_signature = std::string(64, '\x07');
  return r;
}

}  // namespace dm2::storage::test
