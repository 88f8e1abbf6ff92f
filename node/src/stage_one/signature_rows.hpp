// The signatures of one length, as rows of a FAISS flat inner-product index (exact search):
// each signature centred and scaled to unit length in float32, so that its inner product with a
// query prepared the same way is the NCC of the two, to within unit_score_error. Rows freed by
// an erase are reused by the next add (a flat index removes a row by moving every row after it).
// Not thread-safe; no FAISS type in this header.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace dm2::node::stage_one {

inline constexpr std::uint32_t no_slot = 0xffffffffu;

// The signature centred and scaled to unit length (what NCC compares); nullopt where node::ncc
// has no value: empty, a non-finite sample, zero variance.
std::optional<std::vector<float>> unit_signature(const std::vector<float>& samples);

// An upper bound on |inner product of two unit_signature()s of `dim` samples, as FAISS computes
// it in float32 - node::ncc of the original samples, in double|: rounding of both unit vectors
// and of the float sum (at most dim * 2^-24 relative), times 4 for safety.
double unit_score_error(std::size_t dim);

class signature_rows {
 public:
  explicit signature_rows(std::size_t dim);
  ~signature_rows();
  signature_rows(signature_rows&&) noexcept;

  std::size_t dim() const { return dim_; }
  std::size_t size() const { return slots_.size() - free_.size(); }  // rows in use
  // Stores `unit` (dim() floats) for `slot` (the index's record number); returns its row.
  std::uint32_t add(const std::vector<float>& unit, std::uint32_t slot);
  void free(std::uint32_t row);
  void shrink_to_fit();  // releases the arrays' spare capacity
  // The best `k` rows in use whose slot `keep` accepts, by inner product with `unit_query`
  // (dim() floats), best first, as (inner product, slot).
  std::vector<std::pair<float, std::uint32_t>> search(const std::vector<float>& unit_query, std::size_t k,
                                                      const std::function<bool(std::uint32_t slot)>& keep) const;

 private:
  struct faiss_index;
  std::size_t dim_;
  std::unique_ptr<faiss_index> index_;
  std::vector<std::uint32_t> slots_;  // row -> slot, no_slot when free
  std::vector<std::uint32_t> free_;   // rows to reuse
};

}  // namespace dm2::node::stage_one
