// database::query (secondary-index prefix scans, intersected) and database::check_indexes.
#include <algorithm>
#include <set>

#include "database_impl.hpp"
#include "index_keys.hpp"

namespace dm2::storage {
namespace {

using lfn_list = std::vector<std::string>;  // sorted, unique

// Every LFN listed under keys in [begin, end) of record_index.
result<lfn_list> scan(const database::impl& p, const snapshot_guard& snap, const std::string& begin,
                      const std::string& end) {
  lfn_list out;
  std::unique_ptr<rocksdb::Iterator> it(p.db->NewIterator(snap.read(), p.handle(family::record_index)));
  for (it->Seek(slice(begin)); it->Valid() && view(it->key()) < end; it->Next()) {
    auto key = view(it->key());
    if (key.size() <= lfn_size) continue;
    out.emplace_back(detail::lfn_of_index_key(key));
  }
  if (!it->status().ok()) return storage_error(it->status(), "index scan failed");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string after_prefix(std::string prefix) { return prefix + std::string(lfn_size + 1, '\xff'); }

bool valid_bound(const std::string& d) {
  return d.size() == 8 && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool in_range(const std::string& date, const std::optional<date_range>& r) {
  return !r || (!date.empty() && date >= r->from && date <= r->to);
}

bool has_diagnosis(const index_record& r, const std::optional<std::string>& code) {
  return !code || std::any_of(r.diagnoses.begin(), r.diagnoses.end(), [&](const diagnosis& d) {
           return !d.code.empty() && (d.code == *code || diagnosis_category(d.code) == *code);
         });
}

}  // namespace

bool matches(const index_record& r, const index_filter& f) {
  const auto& a = r.attributes;
  auto eq = [](const std::optional<std::string>& want, const std::string& have) { return !want || *want == have; };
  return eq(f.modality, a.modality) && eq(f.body_part, a.body_part) && eq(f.manufacturer, a.manufacturer) &&
         eq(f.sex, a.sex) && eq(f.age_band, a.age_band) && eq(f.owner_site, r.owner_site) &&
         has_diagnosis(r, f.diagnosis_code) &&
         in_range(a.study_date, f.study_date) && in_range(a.series_date, f.series_date);
}

result<std::vector<index_record>> database::query(const index_filter& filter) {
  for (const auto* r : {&filter.study_date, &filter.series_date})
    if (*r && (!valid_bound((*r)->from) || !valid_bound((*r)->to)))
      return fail(errc::invalid_argument, "date bounds must be YYYYMMDD");
  std::vector<index_record> out;
  // One consistent state: a concurrent commit must not move a record between scan and read.
  snapshot_guard snap(impl_->db.get());

  std::optional<lfn_list> candidates;
  auto narrow = [&](lfn_list found) {
    if (!candidates) {
      candidates = std::move(found);
      return;
    }
    lfn_list both;
    std::set_intersection(candidates->begin(), candidates->end(), found.begin(), found.end(),
                          std::back_inserter(both));
    candidates = std::move(both);
  };
  using detail::attr;
  const std::pair<attr, const std::optional<std::string>*> equalities[] = {
      {attr::modality, &filter.modality}, {attr::body_part, &filter.body_part},
      {attr::manufacturer, &filter.manufacturer}, {attr::sex, &filter.sex},
      {attr::age_band, &filter.age_band}, {attr::owner_site, &filter.owner_site},
      {attr::diagnosis_code, &filter.diagnosis_code}};
  for (const auto& [id, value] : equalities) {
    if (!*value) continue;
    // An empty value is never indexed, so it matches nothing here (and "unset" is the wildcard).
    std::string prefix = detail::equality_prefix(impl_->blind_key, id, **value);
    auto found = scan(*impl_, snap, prefix, after_prefix(prefix));
    if (!found) return std::move(found).err();
    narrow(std::move(*found));
  }
  const std::pair<attr, const std::optional<date_range>*> dates[] = {
      {attr::study_date, &filter.study_date}, {attr::series_date, &filter.series_date}};
  for (const auto& [id, range] : dates) {
    if (!*range) continue;
    std::string tag(1, static_cast<char>(id));
    auto found = scan(*impl_, snap, tag + (*range)->from, after_prefix(tag + (*range)->to));
    if (!found) return std::move(found).err();
    narrow(std::move(*found));
  }

  if (candidates) {
    for (const auto& lfn : *candidates) {
      if (out.size() >= filter.limit) break;
      auto record = impl_->load_record(lfn, snap.get());
      if (!record) return std::move(record).err();
      // The index and the records are written in one batch; a mismatch is corruption.
      if (!*record) return fail(errc::integrity_failure, "index lists a record that is not stored");
      if (matches(**record, filter)) out.push_back(std::move(**record));
    }
    return out;
  }
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(snap.read(), impl_->handle(family::index_records)));
  for (it->SeekToFirst(); it->Valid() && out.size() < filter.limit; it->Next()) {
    auto record = impl_->load_record(view(it->key()), snap.get());
    if (!record) return std::move(record).err();
    if (*record) out.push_back(std::move(**record));
  }
  if (!it->status().ok()) return storage_error(it->status(), "record scan failed");
  return out;
}

status database::check_indexes() {
  snapshot_guard snap(impl_->db.get());
  auto read = snap.read();

  std::set<std::string> expected;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(read, impl_->handle(family::index_records)));
  std::size_t records = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto record = impl_->open_record(view(it->key()), view(it->value()));
    if (!record) return std::move(record).err();
    for (auto& k : detail::index_keys_of(impl_->blind_key, *record)) expected.insert(std::move(k));
    ++records;
  }
  if (!it->status().ok()) return storage_error(it->status(), "record scan failed");

  std::size_t extra = 0, entries = 0;
  std::unique_ptr<rocksdb::Iterator> ix(impl_->db->NewIterator(read, impl_->handle(family::record_index)));
  for (ix->SeekToFirst(); ix->Valid(); ix->Next()) {
    ++entries;
    if (expected.erase(std::string(view(ix->key()))) == 0) ++extra;
  }
  if (!ix->status().ok()) return storage_error(ix->status(), "index scan failed");
  if (extra || !expected.empty())
    return fail(errc::integrity_failure, "secondary index disagrees with " + std::to_string(records) +
                                             " records: " + std::to_string(expected.size()) +
                                             " entries missing, " + std::to_string(extra) + " extra");
  return {};
}

}  // namespace dm2::storage
