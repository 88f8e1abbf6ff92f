#include "signature_rows.hpp"

#include <faiss/IndexFlat.h>
#include <faiss/impl/IDSelector.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace dm2::node::stage_one {

struct signature_rows::faiss_index {
  explicit faiss_index(std::size_t dim) : flat(static_cast<faiss::Index::idx_t>(dim)) {}
  faiss::IndexFlatIP flat;
};

namespace {

// FAISS asks it for every row before computing its inner product: free rows and rows the
// query's filters or owners exclude cost no arithmetic.
struct slot_selector final : faiss::IDSelector {
  slot_selector(const std::vector<std::uint32_t>& s, const std::function<bool(std::uint32_t)>& k) : slots(s), keep(k) {}
  bool is_member(faiss::Index::idx_t row) const override {
    auto slot = slots[static_cast<std::size_t>(row)];
    return slot != no_slot && keep(slot);
  }
  const std::vector<std::uint32_t>& slots;
  const std::function<bool(std::uint32_t)>& keep;
};

}  // namespace

std::optional<std::vector<float>> unit_signature(const std::vector<float>& samples) {
  if (samples.empty()) return std::nullopt;
  double mean = 0;
  for (float v : samples) {
    if (!std::isfinite(v)) return std::nullopt;
    mean += v;
  }
  mean /= static_cast<double>(samples.size());
  double var = 0;
  for (float v : samples) var += (v - mean) * (v - mean);
  if (!(var > 0)) return std::nullopt;
  double scale = 1 / std::sqrt(var);
  std::vector<float> unit(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) unit[i] = static_cast<float>((samples[i] - mean) * scale);
  return unit;
}

double unit_score_error(std::size_t dim) { return 4 * static_cast<double>(dim + 4) * std::ldexp(1.0, -24); }

signature_rows::signature_rows(std::size_t dim) : dim_(dim), index_(std::make_unique<faiss_index>(dim)) {}
signature_rows::~signature_rows() = default;
signature_rows::signature_rows(signature_rows&&) noexcept = default;

std::uint32_t signature_rows::add(const std::vector<float>& unit, std::uint32_t slot) {
  if (!free_.empty()) {
    auto row = free_.back();
    free_.pop_back();
    std::memcpy(index_->flat.get_xb() + static_cast<std::size_t>(row) * dim_, unit.data(), dim_ * sizeof(float));
    slots_[row] = slot;
    return row;
  }
  index_->flat.add(1, unit.data());
  slots_.push_back(slot);
  return static_cast<std::uint32_t>(slots_.size() - 1);
}

void signature_rows::free(std::uint32_t row) {
  slots_[row] = no_slot;
  free_.push_back(row);
}

void signature_rows::shrink_to_fit() {
  index_->flat.codes.shrink_to_fit();
  slots_.shrink_to_fit();
}

std::vector<std::pair<float, std::uint32_t>> signature_rows::search(
    const std::vector<float>& unit_query, std::size_t k, const std::function<bool(std::uint32_t)>& keep) const {
  std::vector<std::pair<float, std::uint32_t>> out;
  k = std::min(k, size());
  if (k == 0) return out;
  slot_selector selector(slots_, keep);
  faiss::SearchParameters params;
  params.sel = &selector;
  std::vector<float> scores(k);
  std::vector<faiss::Index::idx_t> rows(k);
  index_->flat.search(1, unit_query.data(), static_cast<faiss::Index::idx_t>(k), scores.data(), rows.data(), &params);
  for (std::size_t i = 0; i < k && rows[i] >= 0; ++i)
    out.emplace_back(scores[i], slots_[static_cast<std::size_t>(rows[i])]);
  return out;
}

}  // namespace dm2::node::stage_one
