// A site's stage-1 index (issue 11 item 7, docs/similarity.md "Stage 1 at hospital scale"): what
// a similarity query's stage 1 needs of every held record, compact in memory — the record's
// signature as a unit float32 row of a FAISS flat index (signature_rows, one per signature
// length) and its filter attributes as dictionary ids — so that a query ranks a million records
// without reading them. It only chooses candidates: each is then read from the replica store and
// scored exactly as before (query_scoring's plan), so the hits are those scoring every record
// would give, bit for bit.
//
// Kept in step with the replica store as its record_listener (stored: new record, new version,
// replica gained; erased: replica handed off) and built from the database at start.
// Not thread-safe: the node uses it on the overlay service's thread, as it does the store.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "query_body.hpp"
#include "dm2/dht/query_fanout.hpp"
#include "dm2/dht/storage_replica_store.hpp"
#include "dm2/result.hpp"
#include "signature_rows.hpp"

namespace dm2::node::stage_one {

// What a search did: how many candidates it scored exactly (read from the store).
struct search_stats {
  std::size_t scored = 0;   // candidates read and scored by NCC
  std::size_t unscored = 0; // candidates read to fill the hits after the scored ones
  std::size_t faiss_searches = 0;
};

class stage_one_index final : public dht::record_listener {
 public:
  stage_one_index();
  ~stage_one_index() override;

  // Replaces the content with every record of `db` (at start, before the store changes).
  // Errors: those of database::for_each_index_record.
  status build(storage::database& db);
  void stored(const storage::index_record& r) override;
  void erased(const std::string& raw_lfn) override;
  std::size_t size() const { return lfns_.size(); }

  // The exact hit for a candidate (its LFN as 32 hex digits): read from the store and scored by
  // the query's plan; nullopt when it does not match.
  using exact_scorer = std::function<std::optional<dht::query_hit>(const std::string& lfn_hex)>;
  // The best top_k hits (dht::ranks_before) for `query` among the records whose owner passes
  // `answers_for`, as `exact` on every such record would rank them.
  std::vector<dht::query_hit> search(const query_body& query, const dht::query_plan::owner_test& answers_for,
                                     std::size_t top_k, const exact_scorer& exact,
                                     search_stats* stats = nullptr) const;

 private:
  using lfn_bytes = std::array<char, storage::lfn_size>;
  struct lfn_hash {
    // LFNs are random: their first bytes. noexcept: the map then stores no hash per entry.
    std::size_t operator()(const lfn_bytes& l) const noexcept;
  };
  // One record's columns (64 bytes).
  struct entry {
    lfn_bytes lfn{};
    std::uint32_t owner = 0, modality = 0, body_part = 0, manufacturer = 0, sex = 0, age_band = 0;
    std::uint32_t diagnoses = 0;   // the record's codes joined by ',' (a dictionary id)
    std::uint32_t study_date = 0;  // YYYYMMDD as a number, 0 when unknown
    std::uint32_t series_date = 0;
    std::uint32_t rows = no_slot;  // signature_rows of its signature's length, or none (unscored)
    std::uint32_t row = 0;
  };
  struct prepared_filter;

  std::uint32_t intern(const std::string& s);
  void remove(std::uint32_t slot);
  prepared_filter prepare(const storage::index_filter& f, const dht::query_plan::owner_test& answers_for) const;

  std::vector<entry> entries_;  // by slot
  std::vector<std::uint32_t> free_slots_;
  std::unordered_map<lfn_bytes, std::uint32_t, lfn_hash> lfns_;  // -> slot
  std::vector<std::string> strings_;                             // dictionary: id -> value
  std::unordered_map<std::string, std::uint32_t> string_ids_;
  std::vector<signature_rows> rows_;                   // one per signature length
  std::map<std::size_t, std::uint32_t> rows_by_dim_;   // length -> rows_ index
};

}  // namespace dm2::node::stage_one
