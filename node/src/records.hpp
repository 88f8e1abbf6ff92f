// Index records at the node's edge: the ingest body of POST /v1/records, the JSON answer of
// GET /v1/records, and the owner signature (Ed25519 with the site's DHT key over
// storage::signed_payload) that every holder checks against the roster. Pure functions, except
// that roster_verifier reads the consortium (thread-safe).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "consortium.hpp"
#include "dm2/dht/storage_replica_store.hpp"
#include "dm2/result.hpp"
#include "dm2/storage/index_record.hpp"

namespace dm2::node {

// {"lfn": 32 hex, "attributes": {"modality", "body_part", "manufacturer", "study_date",
// "series_date", "sex", "age_band"} (each optional, a string), "signature_hex": optional hex of
// the similarity signature}. Unknown fields are refused (a typo must not drop an attribute).
// Returns a record with lfn, attributes and signature set; version, owner and owner signature
// are the node's to set. Errors: malformed_input naming the field (including validate()'s).
result<storage::index_record> parse_ingest(std::string_view body);

// {"lfn": hex, "version", "owner", "attributes": {...}, "diagnoses": [diagnosis_json, no text],
//  "signature_size": bytes,
//  "owner_signature_size": bytes}.
nlohmann::json record_json(const storage::index_record& r);

// Sets r.owner_signature. Errors: those of crypto::sign (malformed_input, unsupported).
status sign_record(storage::index_record& r, std::string_view dht_key_pem);

// Accepts a record only if its owner is a current roster member and the owner signature
// verifies against that member's DHT key.
dht::storage_replica_store::verifier roster_verifier(const consortium& members);

}  // namespace dm2::node
