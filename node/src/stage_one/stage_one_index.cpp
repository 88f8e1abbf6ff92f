#include "stage_one_index.hpp"

#include <algorithm>
#include <cstring>
#include <queue>
#include <unordered_set>

#include "dm2/crypto/hash.hpp"
#include "similarity/signature.hpp"

namespace dm2::node::stage_one {
namespace {

constexpr std::uint32_t any_value = no_slot;        // an unset filter field
constexpr std::uint32_t no_value = no_slot - 1;     // a value no record has: nothing matches
constexpr std::size_t first_candidates = 64;         // FAISS's first k beyond top_k

std::uint32_t date_number(const std::string& yyyymmdd) {
  return yyyymmdd.empty() ? 0 : static_cast<std::uint32_t>(std::stoul(yyyymmdd));
}

std::string joined_codes(const std::vector<storage::diagnosis>& diagnoses) {
  std::string out;
  for (const auto& d : diagnoses) {
    if (d.code.empty()) continue;
    if (!out.empty()) out += ',';
    out += d.code;
  }
  return out;
}

// storage::matches's diagnosis test over a joined code list.
bool has_code(std::string_view joined, const std::string& want) {
  while (!joined.empty()) {
    auto end = joined.find(',');
    auto code = joined.substr(0, end);
    if (code == want || storage::diagnosis_category(code) == want) return true;
    if (end == std::string_view::npos) break;
    joined.remove_prefix(end + 1);
  }
  return false;
}

bool lfn_less(const std::array<char, storage::lfn_size>& a, const std::array<char, storage::lfn_size>& b) {
  return std::memcmp(a.data(), b.data(), a.size()) < 0;  // unsigned bytes: the order of their hex
}

}  // namespace

// storage::matches and the fan-out's owner test over the columns: dictionary ids compared,
// owners and diagnosis lists decided once per dictionary entry.
struct stage_one_index::prepared_filter {
  std::uint32_t modality = any_value, body_part = any_value, manufacturer = any_value, sex = any_value,
                age_band = any_value;
  std::vector<char> owner_ok;      // by dictionary id
  std::vector<char> diagnoses_ok;  // by dictionary id; empty = any
  std::optional<std::pair<std::uint32_t, std::uint32_t>> study, series;

  static bool eq(std::uint32_t want, std::uint32_t have) { return want == any_value || want == have; }
  static bool in(const std::optional<std::pair<std::uint32_t, std::uint32_t>>& r, std::uint32_t d) {
    return !r || (d != 0 && d >= r->first && d <= r->second);
  }
  bool matches(const entry& e) const {
    return e.owner < owner_ok.size() && owner_ok[e.owner] && eq(modality, e.modality) && eq(body_part, e.body_part) &&
           eq(manufacturer, e.manufacturer) && eq(sex, e.sex) && eq(age_band, e.age_band) &&
           (diagnoses_ok.empty() || diagnoses_ok[e.diagnoses]) && in(study, e.study_date) && in(series, e.series_date);
  }
};

std::size_t stage_one_index::lfn_hash::operator()(const lfn_bytes& l) const noexcept {
  std::size_t h;
  std::memcpy(&h, l.data(), sizeof h);
  return h;
}

stage_one_index::stage_one_index() { intern(""); }
stage_one_index::~stage_one_index() = default;

std::uint32_t stage_one_index::intern(const std::string& s) {
  auto [it, added] = string_ids_.try_emplace(s, static_cast<std::uint32_t>(strings_.size()));
  if (added) strings_.push_back(s);
  return it->second;
}

status stage_one_index::build(storage::database& db) {
  entries_.clear();
  free_slots_.clear();
  lfns_.clear();
  rows_.clear();
  rows_by_dim_.clear();
  auto s = db.for_each_index_record([this](const storage::index_record& r) {
    stored(r);
    return true;
  });
  // Growth by doubling leaves up to half of each array unused: give it back once built.
  entries_.shrink_to_fit();
  for (auto& rows : rows_) rows.shrink_to_fit();
  return s;
}

void stage_one_index::stored(const storage::index_record& r) {
  if (r.lfn.size() != storage::lfn_size) return;  // the store validated it; never here
  lfn_bytes lfn;
  std::memcpy(lfn.data(), r.lfn.data(), lfn.size());
  if (auto it = lfns_.find(lfn); it != lfns_.end()) remove(it->second);
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(entries_.size());
    entries_.emplace_back();
  }
  const auto& a = r.attributes;
  entry e;
  e.lfn = lfn;
  e.owner = intern(r.owner_site);
  e.modality = intern(a.modality);
  e.body_part = intern(a.body_part);
  e.manufacturer = intern(a.manufacturer);
  e.sex = intern(a.sex);
  e.age_band = intern(a.age_band);
  e.diagnoses = intern(joined_codes(r.diagnoses));
  e.study_date = date_number(a.study_date);
  e.series_date = date_number(a.series_date);
  if (auto samples = similarity::float_samples(r.signature))
    if (auto unit = unit_signature(*samples)) {
      auto [at, added] = rows_by_dim_.try_emplace(unit->size(), static_cast<std::uint32_t>(rows_.size()));
      if (added) rows_.emplace_back(unit->size());
      e.rows = at->second;
      e.row = rows_[e.rows].add(*unit, slot);
    }
  entries_[slot] = e;
  lfns_[lfn] = slot;
}

void stage_one_index::erased(const std::string& raw_lfn) {
  if (raw_lfn.size() != storage::lfn_size) return;
  lfn_bytes lfn;
  std::memcpy(lfn.data(), raw_lfn.data(), lfn.size());
  if (auto it = lfns_.find(lfn); it != lfns_.end()) remove(it->second);
}

void stage_one_index::remove(std::uint32_t slot) {
  auto& e = entries_[slot];
  if (e.rows != no_slot) rows_[e.rows].free(e.row);
  lfns_.erase(e.lfn);
  e = entry{};
  e.owner = no_slot;  // a free slot matches no filter
  free_slots_.push_back(slot);
}

stage_one_index::prepared_filter stage_one_index::prepare(const storage::index_filter& f,
                                                          const dht::query_plan::owner_test& answers_for) const {
  prepared_filter p;
  auto id_of = [this](const std::optional<std::string>& want) {
    if (!want) return any_value;
    auto it = string_ids_.find(*want);
    return it == string_ids_.end() ? no_value : it->second;
  };
  p.modality = id_of(f.modality);
  p.body_part = id_of(f.body_part);
  p.manufacturer = id_of(f.manufacturer);
  p.sex = id_of(f.sex);
  p.age_band = id_of(f.age_band);
  p.owner_ok.resize(strings_.size());
  for (std::size_t i = 0; i < strings_.size(); ++i)
    p.owner_ok[i] = (!f.owner_site || *f.owner_site == strings_[i]) && answers_for(strings_[i]);
  if (f.diagnosis_code) {
    p.diagnoses_ok.resize(strings_.size());
    for (std::size_t i = 0; i < strings_.size(); ++i) p.diagnoses_ok[i] = has_code(strings_[i], *f.diagnosis_code);
  }
  auto range = [](const std::optional<storage::date_range>& r) -> std::optional<std::pair<std::uint32_t, std::uint32_t>> {
    if (!r) return std::nullopt;
    return std::pair{date_number(r->from), date_number(r->to)};
  };
  p.study = range(f.study_date);
  p.series = range(f.series_date);
  return p;
}

// Scored candidates come from FAISS best first; each is scored exactly, until the next one's
// inner product, plus the largest rounding error, is below the top_k-th exact score (it cannot
// enter, nor tie). When fewer than top_k records have a score, the unscored ones (no signature,
// another length, a flat one) follow in LFN order, as they rank.
std::vector<dht::query_hit> stage_one_index::search(const query_body& query,
                                                    const dht::query_plan::owner_test& answers_for,
                                                    std::size_t top_k, const exact_scorer& exact,
                                                    search_stats* stats) const {
  search_stats local;
  auto& st = stats ? *stats : local;
  std::vector<dht::query_hit> hits;  // sorted by ranks_before, at most top_k
  if (top_k == 0) return hits;
  auto add = [&](dht::query_hit h) {
    auto at = std::upper_bound(hits.begin(), hits.end(), h, dht::ranks_before);
    if (hits.size() == top_k && at == hits.end()) return;
    hits.insert(at, std::move(h));
    if (hits.size() > top_k) hits.pop_back();
  };
  auto hex = [](const lfn_bytes& l) { return crypto::to_hex(std::string_view(l.data(), l.size())); };
  auto filter = prepare(query.filters, answers_for);
  std::function<bool(std::uint32_t)> keep = [&](std::uint32_t slot) { return filter.matches(entries_[slot]); };

  std::uint32_t scored_rows = no_slot;
  auto samples = similarity::float_samples(query.signature);
  auto unit = samples ? unit_signature(*samples) : std::nullopt;
  if (auto it = unit ? rows_by_dim_.find(unit->size()) : rows_by_dim_.end(); it != rows_by_dim_.end()) {
    scored_rows = it->second;
    const auto& rows = rows_[scored_rows];
    double error = unit_score_error(rows.dim());
    std::unordered_set<std::uint32_t> seen;
    for (std::size_t want = top_k + first_candidates;; want *= 4) {
      auto candidates = rows.search(*unit, want, keep);
      ++st.faiss_searches;
      bool enough = false;
      for (const auto& [inner, slot] : candidates) {
        if (hits.size() == top_k && inner + error < hits.back().score) {
          enough = true;
          break;
        }
        if (!seen.insert(slot).second) continue;
        ++st.scored;
        if (auto hit = exact(hex(entries_[slot].lfn))) add(std::move(*hit));
      }
      if (enough || candidates.size() < want) break;  // or every matching row was scored
    }
  }
  if (hits.size() == top_k) return hits;

  // The unscored records that match: the first (top_k - hits) by LFN.
  std::size_t room = top_k - hits.size();
  auto later = [this](std::uint32_t a, std::uint32_t b) { return lfn_less(entries_[a].lfn, entries_[b].lfn); };
  std::priority_queue<std::uint32_t, std::vector<std::uint32_t>, decltype(later)> first(later);  // largest on top
  for (std::uint32_t slot = 0; slot < entries_.size(); ++slot) {
    const auto& e = entries_[slot];
    if ((scored_rows != no_slot && e.rows == scored_rows) || !filter.matches(e)) continue;
    if (first.size() < room) {
      first.push(slot);
    } else if (lfn_less(e.lfn, entries_[first.top()].lfn)) {
      first.pop();
      first.push(slot);
    }
  }
  for (; !first.empty(); first.pop()) {
    ++st.unscored;
    if (auto hit = exact(hex(entries_[first.top()].lfn))) add(std::move(*hit));
  }
  return hits;
}

}  // namespace dm2::node::stage_one
